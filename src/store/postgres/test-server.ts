/**
 * Finds a PostgreSQL server for the tests of this backend (not used by the product).
 *
 * Order: SWITCHBOARD_TEST_DATABASE_URL when set (CI exports it; failures there are real failures);
 * else the throwaway server of scripts/pg-test-server.sh when it is running; else that script is
 * asked to start one. A server started here is left running for the next test run (several test
 * files use it at once, and none knows when the others are done); `scripts/pg-test-server.sh stop`
 * removes it. When none can be had, the caller skips with the reason, except under CI where a
 * missing database is a failure.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export type TestDatabase =
  | { kind: 'ready'; url: string }
  | { kind: 'unavailable'; reason: string };

const SCRIPT = fileURLToPath(new URL('../../../scripts/pg-test-server.sh', import.meta.url));
/** initdb + start take a few seconds; more means something is wrong. */
const START_TIMEOUT_MS = 90_000;
const PROBE_TIMEOUT_MS = 5_000;

function script(command: 'status' | 'start'): { ok: boolean; out: string; err: string } {
  const r = spawnSync('bash', [SCRIPT, command], { encoding: 'utf8', timeout: START_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
  return { ok: r.status === 0, out: (r.stdout ?? '').trim(), err: (r.stderr ?? '').trim() || (r.error?.message ?? '') };
}

/** Resolves when `url` accepts a connection; rejects with the connection error otherwise. */
export async function probe(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Returns a reachable database for the tests, or why there is none. Never throws. */
export async function findTestDatabase(): Promise<TestDatabase> {
  const fromEnv = process.env.SWITCHBOARD_TEST_DATABASE_URL;
  if (fromEnv) return { kind: 'ready', url: fromEnv };
  const status = script('status');
  if (status.ok && status.out) {
    try {
      await probe(status.out);
      return { kind: 'ready', url: status.out };
    } catch {
      // fall through: try (re)starting it
    }
  }
  const started = script('start');
  if (!started.ok || !started.out) {
    return {
      kind: 'unavailable',
      reason: `no PostgreSQL for the tests: SWITCHBOARD_TEST_DATABASE_URL is unset and scripts/pg-test-server.sh could not start a server (${started.err.split('\n').slice(-2).join(' ')})`,
    };
  }
  const url = started.out.split('\n').pop()!;
  try {
    await probe(url);
  } catch (err) {
    return { kind: 'unavailable', reason: `the test server started by scripts/pg-test-server.sh does not answer: ${(err as Error).message}` };
  }
  return { kind: 'ready', url };
}
