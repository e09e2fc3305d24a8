/**
 * Polls `probe` until it returns something truthy, for tests that wait on other processes.
 * @returns the truthy value.
 * @throws Error naming `what` when `timeoutMs` passes first.
 */
export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | undefined | false>, pollMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
