/**
 * Connection requests sent once in a single ACS on SQLite (issue #8, "SQLite single-process
 * behaviour: dedupe too"): two callers asking for one device at the same moment — with the
 * HTTP-only requester and with the NAT path-choosing one — reach the device once, counted at the
 * device; the second caller gets the first one's outcome marked deduplicated.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startAcs, type Acs } from '../../src/acs/app.ts';
import { informSession } from './cwmp-client.ts';

/** The device answers late, so that both requests overlap. */
const DEVICE_ANSWER_MS = 150;

for (const nat of [false, true]) {
  describe(`one ACS on SQLite (${nat ? 'NAT requester' : 'HTTP requester'}): concurrent connection requests send once`, () => {
    let dir: string;
    let acs: Acs;
    let device: http.Server;
    let hits = 0;
    let crUrl = '';

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'sb-cr-once-'));
      device = http.createServer((_req, res) => {
        hits++;
        setTimeout(() => res.writeHead(200).end(), DEVICE_ANSWER_MS);
      });
      await new Promise<void>((resolve) => device.listen(0, '127.0.0.1', resolve));
      crUrl = `http://127.0.0.1:${(device.address() as AddressInfo).port}/cr`;
      acs = await startAcs({
        dataDir: dir,
        host: '127.0.0.1',
        cwmpPort: 0,
        httpPort: null,
        apiToken: 'cr-once-token',
        provisioning: false,
        nat: nat ? { stun: false, confirmMs: 0 } : false,
        logger: pino({ level: 'silent' }),
      });
    });

    after(async () => {
      await acs?.close();
      device?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('two at once: one request at the device, the other answer deduplicated; later ones go out again', async () => {
      const serial = nat ? 'CRONCENAT01' : 'CRONCEHTTP1';
      assert.equal((await informSession(acs.cwmpUrl, serial, crUrl)).status, 200);
      const id = `000B82-GXP2140-${serial}`;
      const [a, b] = await Promise.all([acs.connectionRequest(id), acs.connectionRequest(id)]);
      assert.equal(hits, 1, JSON.stringify([a, b]));
      assert.deepEqual([a.status, b.status], ['ok', 'ok']);
      assert.equal([a, b].filter((r) => r.deduplicated === true).length, 1);
      // after the settle time (3 s) a new request goes out
      await new Promise((r) => setTimeout(r, 3200));
      const again = await acs.connectionRequest(id);
      assert.equal(again.deduplicated, undefined);
      assert.equal(hits, 2);
      hits = 0;
    });
  });
}
