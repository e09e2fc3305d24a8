/**
 * Crash durability: the ACS runs in a child process, devices are in session with tasks queued
 * through the REST API, the process is killed with SIGKILL, and a new process on the same data
 * directory must still have every committed task and parameter, and run the queue at the next
 * sessions (the killed process's session locks do not keep the devices out).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connection, post, xml } from './http-client.ts';
import { informMessage, deviceIdOf, param } from './engine-harness.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Task } from '../../src/store/types.ts';

const BIN = fileURLToPath(new URL('../../bin/switchboard.mjs', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'sb-crash-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

interface Running {
  child: ChildProcess;
  cwmpUrl: string;
  apiUrl: string;
}

/** Starts `switchboard acs` on ephemeral ports and waits for its "ACS started" log line. */
async function startChild(): Promise<Running> {
  const child = spawn(process.execPath, [BIN, 'acs', '--data-dir', dataDir, '--cwmp-port', '0', '--http-port', '0', '--host', '127.0.0.1', '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('ACS did not start within 30 s')), 30_000);
    child.once('exit', (code) => reject(new Error(`ACS exited early (${code})`)));
    lines.on('line', (line) => {
      if (!line.startsWith('{')) return;
      const rec = JSON.parse(line) as { msg?: string; cwmpUrl?: string; apiUrl?: string };
      if (rec.msg === 'ACS started' && rec.cwmpUrl && rec.apiUrl) {
        clearTimeout(timer);
        resolve({ child, cwmpUrl: rec.cwmpUrl, apiUrl: rec.apiUrl });
      }
    });
  });
}

function apiToken(): string {
  return readFileSync(join(dataDir, 'api-token'), 'utf8').trim();
}

async function queue(apiUrl: string, deviceId: string, payload: object): Promise<Task> {
  const res = await fetch(`${apiUrl}/api/devices/${encodeURIComponent(deviceId)}/tasks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiToken()}`, 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  });
  assert.equal(res.status, 202, await res.clone().text());
  return ((await res.json()) as { task: Task }).task;
}

const serials = ['K1', 'K2', 'K3'];

/** The Inform of device `serial` (always reporting the same software version). */
function informOf(serial: string, events: string[]) {
  return xml(informMessage({ serial, events, parameters: [param('Device.DeviceInfo.SoftwareVersion', `1.${serial}`)] }));
}

describe('crash durability', () => {
  it('SIGKILL with devices in session loses no committed task or parameter; the queue resumes', { timeout: 120_000 }, async () => {
    const first = await startChild();
    const tasks = new Map<string, Task[]>();
    // 1. every device has one complete session (committed inventory) and a finished GPV task
    for (const serial of serials) {
      const id = deviceIdOf(serial);
      const c = connection();
      assert.equal((await post(first.cwmpUrl, c, informOf(serial, ['1 BOOT']))).status, 200);
      assert.equal((await post(first.cwmpUrl, c, null)).status, 204);
      const gpv = await queue(first.apiUrl, id, { type: 'getParameterValues', names: ['Device.DeviceInfo.UpTime'] });
      assert.equal((await post(first.cwmpUrl, c, informOf(serial, ['6 CONNECTION REQUEST']))).status, 200);
      const rpc = await post(first.cwmpUrl, c, null);
      assert.equal(rpc.parsed?.body?.method, 'GetParameterValues');
      const done = await post(first.cwmpUrl, c, xml({ method: 'GetParameterValuesResponse', parameterList: [param('Device.DeviceInfo.UpTime', `77${serial.slice(1)}`, 'unsignedInt')] }, '1.0', { id: rpc.parsed!.header.id }));
      assert.equal(done.status, 204);
      c.destroy();
      tasks.set(id, [gpv]);
    }
    // 2. queue two more tasks per device, then put every device in a session with its first task in flight
    const open: ReturnType<typeof connection>[] = [];
    for (const serial of serials) {
      const id = deviceIdOf(serial);
      const a = await queue(first.apiUrl, id, { type: 'setParameterValues', parameters: [{ name: 'Device.ManagementServer.PeriodicInformInterval', value: 300 }] });
      const b = await queue(first.apiUrl, id, { type: 'getRPCMethods' });
      tasks.get(id)!.push(a, b);
      const c = connection();
      open.push(c);
      assert.equal((await post(first.cwmpUrl, c, informOf(serial, ['2 PERIODIC']))).status, 200);
      const rpc = await post(first.cwmpUrl, c, null);
      assert.equal(rpc.parsed?.body?.method, 'SetParameterValues');
    }
    // 3. kill -9
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    for (const c of open) c.destroy();

    // 4. the data directory holds everything committed (read by an independent store instance)
    const store = openSqliteStore({ dataDir });
    try {
      for (const serial of serials) {
        const id = deviceIdOf(serial);
        const device = await store.getDevice(id);
        assert.equal(device?.softwareVersion, `1.${serial}`);
        const [up] = await store.getParameters(id, { names: ['Device.DeviceInfo.UpTime'] });
        assert.equal(up?.value, `77${serial.slice(1)}`);
        const [gpv, spv, rpcTask] = tasks.get(id)!;
        const g = await store.getTask(gpv.id);
        assert.equal(g?.status, 'done');
        assert.deepEqual(g?.result, { parameters: [{ name: 'Device.DeviceInfo.UpTime', value: `77${serial.slice(1)}`, type: 'unsignedInt' }] });
        assert.equal((await store.getTask(spv.id))?.status, 'running', 'in flight when killed');
        assert.equal((await store.getTask(rpcTask.id))?.status, 'pending');
      }
    } finally {
      await store.close();
    }

    // 5. restart on the same data dir: the queue resumes at the next session of each device
    const second = await startChild();
    try {
      for (const serial of serials) {
        const id = deviceIdOf(serial);
        const c = connection();
        const ir = await post(second.cwmpUrl, c, informOf(serial, ['1 BOOT']));
        assert.equal(ir.status, 200, 'no stale lock keeps the device out');
        let ex = await post(second.cwmpUrl, c, null);
        assert.equal(ex.parsed?.body?.method, 'SetParameterValues');
        ex = await post(second.cwmpUrl, c, xml({ method: 'SetParameterValuesResponse', status: 0 }, '1.0', { id: ex.parsed!.header.id }));
        assert.equal(ex.parsed?.body?.method, 'GetRPCMethods');
        ex = await post(second.cwmpUrl, c, xml({ method: 'GetRPCMethodsResponse', methodList: ['Inform'] }, '1.0', { id: ex.parsed!.header.id }));
        assert.equal(ex.status, 204);
        c.destroy();
        const res = await fetch(`${second.apiUrl}/api/devices/${encodeURIComponent(id)}/tasks`, { headers: { authorization: `Bearer ${apiToken()}` } });
        const list = (await res.json()) as { tasks: Task[] };
        assert.deepEqual(list.tasks.map((t) => t.status).sort(), ['done', 'done', 'done']);
        const spv = list.tasks.find((t) => t.type === 'setParameterValues');
        assert.equal(spv?.attempts, 2, 'the killed attempt counts');
      }
    } finally {
      second.child.kill('SIGTERM');
      await new Promise((r) => second.child.once('exit', r));
    }
    // the clean shutdown checkpointed the WAL into the database file
    const after = openSqliteStore({ dataDir });
    assert.equal((await after.getParameters(deviceIdOf('K1'), { names: ['Device.ManagementServer.PeriodicInformInterval'] }))[0]?.value, '300');
    await after.close();
  });
});
