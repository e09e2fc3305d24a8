/**
 * `switchboard acs --public-url`: the base URL devices download files from. Without it the ACS
 * can only offer its listen address, which a device on another host cannot reach when the ACS
 * listens on every interface or sits behind a load balancer.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { AcsUsageError, publicUrl } from '../../src/cli/acs.ts';

const BIN = fileURLToPath(new URL('../../bin/switchboard.mjs', import.meta.url));
const START_TIMEOUT_MS = 30_000;
const FIRMWARE = '1 Firmware Upgrade Image';

interface Running {
  child: ChildProcess;
  apiUrl: string;
}

/** Starts `switchboard acs` with `extra` flags on ephemeral ports; resolves at its "ACS started" line. */
function startCli(dataDir: string, extra: string[]): Promise<Running> {
  const args = [BIN, 'acs', '--data-dir', dataDir, '--cwmp-port', '0', '--http-port', '0', '--host', '127.0.0.1', '--no-stun', '--log-level', 'info', ...extra];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('ACS did not start in time')), START_TIMEOUT_MS);
    child.once('exit', (code) => reject(new Error(`ACS exited early (${code})`)));
    lines.on('line', (line) => {
      if (!line.startsWith('{')) return;
      const rec = JSON.parse(line) as { msg?: string; apiUrl?: string };
      if (rec.msg === 'ACS started' && rec.apiUrl) {
        clearTimeout(timer);
        resolve({ child, apiUrl: rec.apiUrl });
      }
    });
  });
}

/** Uploads a small file through the API; returns the `url` the API says devices download it from. */
async function uploadedFileUrl(apiUrl: string, token: string): Promise<string> {
  const res = await fetch(`${apiUrl}/api/files?name=fw.bin&fileType=${encodeURIComponent(FIRMWARE)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
    body: Buffer.from('image bytes'),
  });
  assert.equal(res.status, 201, await res.clone().text());
  const file = (await res.json()) as { id: string; url: string };
  return file.url;
}

describe('switchboard acs --public-url', () => {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) c.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  for (const [flagValue, expectedBase] of [
    ['http://acs.example.net:8080', 'http://acs.example.net:8080/files/'],
    ['https://acs.example.net/switchboard/', 'https://acs.example.net/switchboard/files/'],
  ] as const) {
    it(`file download URLs start with ${flagValue}`, async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'sb-public-url-'));
      dirs.push(dataDir);
      const running = await startCli(dataDir, ['--public-url', flagValue]);
      children.push(running.child);
      const token = readFileSync(join(dataDir, 'api-token'), 'utf8').trim();
      const url = await uploadedFileUrl(running.apiUrl, token);
      assert.ok(url.startsWith(expectedBase), url);
      assert.ok(url.endsWith('/fw.bin'), url);
    });
  }

  it('without it, file URLs use the listen address', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-public-url-'));
    dirs.push(dataDir);
    const running = await startCli(dataDir, []);
    children.push(running.child);
    const token = readFileSync(join(dataDir, 'api-token'), 'utf8').trim();
    const url = await uploadedFileUrl(running.apiUrl, token);
    assert.ok(url.startsWith(`${running.apiUrl}/files/`), url);
  });

  for (const bad of ['acs.example.net', 'ftp://acs.example.net', 'http://acs.example.net/?x=1', 'http://user:pw@acs.example.net']) {
    it(`refuses ${bad}`, () => {
      assert.throws(() => publicUrl(bad), (err: unknown) => err instanceof AcsUsageError && /--public-url/.test(err.message));
    });
  }

  it('the CLI exits non-zero with the message for a bad value', async () => {
    const child = spawn(process.execPath, [BIN, 'acs', '--public-url', 'nope', '--data-dir', join(tmpdir(), 'sb-never-created')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.notEqual(code, 0);
    assert.match(stderr, /--public-url must be/);
  });
});
