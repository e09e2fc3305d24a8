/**
 * Reads a server-sent event stream with fetch (EventSource cannot send the Authorization header)
 * and reconnects with a growing delay when it drops.
 */
import { loadSession } from './api.ts';

export interface StreamEvent {
  event: string;
  data: unknown;
}

export type StreamState = 'connecting' | 'open' | 'closed';

const MAX_RETRY_MS = 30_000;

/**
 * Opens the stream at `url` and calls `onEvent` per event; `onState` tells connection changes.
 * @returns a function that closes the stream for good.
 */
export function openStream(url: string, onEvent: (e: StreamEvent) => void, onState: (s: StreamState) => void): () => void {
  let stopped = false;
  let controller: AbortController | null = null;
  let retryMs = 1000;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const connect = async () => {
    if (stopped) return;
    onState('connecting');
    controller = new AbortController();
    const session = loadSession();
    try {
      const res = await fetch(url, {
        headers: { accept: 'text/event-stream', ...(session ? { authorization: `Bearer ${session.token}` } : {}) },
        signal: controller.signal,
      });
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      onState('open');
      retryMs = 1000;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
          }
          if (data.length === 0) continue;
          try {
            onEvent({ event, data: JSON.parse(data.join('\n')) });
          } catch {
            // a malformed event is skipped, the stream goes on
          }
        }
      }
    } catch {
      // dropped or refused: retry below
    }
    if (stopped) return;
    onState('closed');
    timer = setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
  };
  void connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    controller?.abort();
  };
}
