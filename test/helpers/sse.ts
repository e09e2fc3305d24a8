/** One server-sent event with its JSON data. */
export interface SseEvent {
  event: string;
  data: unknown;
}

/**
 * Moves every complete event block (`event:` and `data:` lines, ended by a blank line) from `buffer`
 * into `into`; blocks without both lines (comments, heartbeats) are skipped.
 * @returns what is left of the buffer (an incomplete block).
 */
export function takeSseEvents(buffer: string, into: SseEvent[]): string {
  let cut: number;
  while ((cut = buffer.indexOf('\n\n')) >= 0) {
    const block = buffer.slice(0, cut);
    buffer = buffer.slice(cut + 2);
    const event = /^event: (.*)$/m.exec(block)?.[1];
    const data = /^data: (.*)$/m.exec(block)?.[1];
    if (event !== undefined && data !== undefined) into.push({ event, data: JSON.parse(data) as unknown });
  }
  return buffer;
}
