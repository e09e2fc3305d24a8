/**
 * Test helper process (not part of the product): takes a session lock and then waits to be killed.
 * Usage: node --import tsx test-lock-holder.ts <url> <schema> <deviceId> <owner> <ttlMs>
 * Prints `locked` once it holds the lock, or `busy <holder>` and exits 1.
 */
import { openPostgresStore } from './index.ts';

const [url, schema, deviceId, owner, ttl] = process.argv.slice(2);
const store = await openPostgresStore(url, { schema, poolSize: 1 });
const r = await store.acquireSessionLock(deviceId, owner, Number(ttl));
if (!r.acquired) {
  process.stdout.write(`busy ${r.holder}\n`);
  await store.close();
  process.exit(1);
}
process.stdout.write('locked\n');
// Keep the process (and its pool) alive until the test kills it.
setInterval(() => undefined, 60_000);
