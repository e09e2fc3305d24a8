/**
 * The console in chromium against the real ACS (`startAcs` on 127.0.0.1, ephemeral ports, temp
 * data dir) with simulated devices from the project's fleet (src/cpe/fleet.ts): log in with the
 * generated first admin password, find a device by a parameter value, refresh its parameters and
 * change a SIP setting (the device reports the new value back), reboot it and see the BOOT in its
 * live timeline, upload a firmware image and run a rollout, and see a viewer's write refused.
 * axe-core runs on every page; screenshots go to test-output/screenshots/.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Page } from 'playwright-core';
import { startAcs, type Acs } from '../../src/acs/app.ts';
import { buildFirmwareImage } from '../../src/cpe/firmware.ts';
import { Fleet } from '../../src/cpe/fleet.ts';
import { axe, browserUnavailable, ensureConsoleBuilt, formatViolations, launch, screenshot, type BrowserSession } from './browser.ts';

const unavailable = browserUnavailable();
if (unavailable) console.log(`# ${unavailable}`);

const API_TOKEN = 'sb_console-e2e-token-0123456789abcdefghijklmnop';
const CR_PASSWORD = 'switchboard-cr';
const DEVICES = 3;
const SIP_USER = 'Device.Services.VoiceService.1.VoiceProfile.1.Line.1.SIP.AuthUserName';
const NEW_FIRMWARE = '1.0.11.99';

interface ApiDevice {
  id: string;
  serialNumber: string;
  productClass: string;
  connectionRequestUrl: string | null;
  softwareVersion: string | null;
}

describe('console end to end: real ACS, simulated devices, chromium', { skip: unavailable ?? false, timeout: 240_000 }, () => {
  let dataDir: string;
  let acs: Acs;
  let fleet: Fleet;
  let b: BrowserSession;
  let page: Page;
  let devices: ApiDevice[];
  let adminPassword: string;

  const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${acs.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${API_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };

  const assertAccessible = async (what: string) => {
    const violations = await axe(page);
    assert.equal(violations.length, 0, `${what}: axe violations:\n${formatViolations(violations)}`);
  };

  before(async () => {
    ensureConsoleBuilt();
    dataDir = mkdtempSync(join(tmpdir(), 'sb-console-e2e-'));
    acs = await startAcs({ dataDir, cwmpPort: 0, httpPort: 0, host: '127.0.0.1', apiToken: API_TOKEN, logger: pino({ level: 'silent' }), provisioning: { rolloutTickMs: 500 } });
    adminPassword = readFileSync(join(dataDir, 'admin-password'), 'utf8').trim();
    fleet = new Fleet({
      acsUrl: acs.cwmpUrl,
      count: DEVICES,
      models: ['GXP2140', 'HT502'],
      connPort: 0,
      host: '127.0.0.1',
      periodicInterval: 300,
      spreadMs: 300,
      connectionRequestPassword: CR_PASSWORD,
    });
    await fleet.start();
    // Wait for every device's first session to be stored. A device is listed from its Inform on (the
    // ACS registers it then); its parameters, the connection request URL the search below uses among
    // them, come with the session's commit, which a loaded machine may delay.
    const firstSessionsStored = () => devices.length === DEVICES && devices.every((d) => d.connectionRequestUrl);
    for (let i = 0; i < 300; i++) {
      devices = (await api<{ devices: ApiDevice[] }>('GET', '/api/devices')).devices;
      if (firstSessionsStored()) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(firstSessionsStored(), `devices and their connection request URLs: ${JSON.stringify(devices.map((d) => [d.id, d.connectionRequestUrl]))}`);
    // The fleet's connection request usernames are the serial numbers (zero-touch would set them).
    for (const d of devices.slice(1)) {
      await api('PATCH', `/api/devices/${encodeURIComponent(d.id)}`, { credentials: { connectionRequestUsername: d.serialNumber, connectionRequestPassword: CR_PASSWORD } });
    }
    b = await launch();
    page = b.page;
  });

  after(async () => {
    await b?.close();
    await fleet?.stop();
    await acs?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('logs in with the generated first admin password; the overview counts the simulated devices', async () => {
    await page.goto(`${acs.apiUrl}/`);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(adminPassword);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    await page.locator('.stat-online .stat-value').filter({ hasText: String(DEVICES) }).waitFor();
    await page.getByRole('rowheader', { name: 'GXP2140' }).waitFor();
    await assertAccessible('overview');
    await screenshot(page, 'e2e-01-overview');
  });

  it('finds a device by a parameter value and opens it', async () => {
    const target = devices[0];
    await page.getByRole('link', { name: 'Devices' }).first().click();
    await page.getByLabel('Search', { exact: true }).fill(`Device.ManagementServer.ConnectionRequestURL=${target.connectionRequestUrl}`);
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByText('1 device matches').waitFor();
    await assertAccessible('devices (search)');
    await screenshot(page, 'e2e-02-device-search');
    await page.getByRole('link', { name: target.id }).click();
    await page.getByRole('heading', { level: 1, name: target.id }).waitFor();
    await page.getByText('Live updates on').waitFor();
  });

  it('sets the device\'s connection request credentials (admin) and refreshes its parameters from the device', async () => {
    const target = devices[0];
    await page.getByText('Credentials', { exact: true }).click();
    await page.getByLabel('Connection request username').fill(target.serialNumber);
    await page.getByLabel('Connection request password').fill(CR_PASSWORD);
    await page.getByRole('button', { name: 'Save credentials' }).click();
    await page.getByText('The credentials were saved.').waitFor();
    await page.getByRole('button', { name: 'Refresh parameters' }).click();
    await page.getByText('All parameters were read from the device.').waitFor({ timeout: 40_000 });
    await page.getByText(/[0-9]{2,} parameters known/).waitFor();
  });

  it('refreshes one subtree from the device', async () => {
    await page.getByRole('button', { name: 'Refresh Device.DeviceInfo. from the device' }).click();
    await page.getByText('Refreshed Device.DeviceInfo. from the device.').waitFor({ timeout: 40_000 });
  });

  it('changes a SIP setting and sees the device report it', async () => {
    const target = devices[0];
    await page.getByLabel('Find a parameter').fill('Line.1.SIP.AuthUserName');
    await page.getByRole('button', { name: `Edit ${SIP_USER}` }).click();
    await page.getByLabel('New value of AuthUserName').fill('2042');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText(`Saved. The device now reports ${SIP_USER} = 2042.`).waitFor({ timeout: 40_000 });
    const stored = await api<{ parameters: { name: string; value: string }[] }>('GET', `/api/devices/${encodeURIComponent(target.id)}/parameters?prefix=${encodeURIComponent(SIP_USER)}`);
    assert.equal(stored.parameters.find((p) => p.name === SIP_USER)?.value, '2042');
    await page.getByLabel('Find a parameter').fill('');
    await assertAccessible('device');
    await screenshot(page, 'e2e-03-device-after-edit');
  });

  it('reboots the device and sees the BOOT in its timeline (live)', async () => {
    await page.getByRole('button', { name: 'Reboot', exact: true }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Reboot' }).click();
    await page.getByText(/The device accepted the reboot/).waitFor({ timeout: 40_000 });
    // No reload: the session with "1 BOOT" arrives through the event stream.
    await page.locator('.timeline').getByText(/Inform: 1 BOOT/).first().waitFor({ timeout: 30_000 });
    await screenshot(page, 'e2e-04-device-after-reboot');
  });

  it('uploads a firmware image and starts a rollout that upgrades the matching devices', async () => {
    const gxp = devices.filter((d) => d.productClass === 'GXP2140');
    await page.getByRole('link', { name: 'Files' }).click();
    await page.getByRole('heading', { level: 1, name: 'Files' }).waitFor();
    await page.getByLabel('File', { exact: true }).setInputFiles({ name: 'gxp2140-1.0.11.99.bin', mimeType: 'application/octet-stream', buffer: buildFirmwareImage({ model: 'GXP2140', version: NEW_FIRMWARE }) });
    await page.getByLabel('Model (product class)').fill('GXP2140');
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByText(/Uploaded gxp2140-1\.0\.11\.99\.bin .*version 1\.0\.11\.99/).waitFor();
    await assertAccessible('files');
    await screenshot(page, 'e2e-05-files');

    await page.getByRole('link', { name: 'Rollouts' }).click();
    await page.getByRole('heading', { level: 1, name: 'Rollouts' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('GXP2140 to 1.0.11.99');
    await page.getByLabel('Stages').fill('1, 100%');
    await page.getByLabel('Stop after failures').fill('1');
    await page.getByRole('button', { name: 'Start rollout' }).click();
    await page.getByText(`Rollout "GXP2140 to 1.0.11.99" started on ${gxp.length} devices.`).waitFor();
    // The page polls the progress: every GXP2140 ends up on the new firmware.
    await page.getByRole('img', { name: new RegExp(`${gxp.length} succeeded of ${gxp.length}`) }).waitFor({ timeout: 90_000 });
    await assertAccessible('rollouts');
    await screenshot(page, 'e2e-06-rollout');
    for (const d of gxp) {
      const now = await api<ApiDevice>('GET', `/api/devices/${encodeURIComponent(d.id)}`);
      assert.equal(now.softwareVersion, NEW_FIRMWARE, d.id);
    }
  });

  it('presets: the server\'s validation sentence, a dry run on one device, then save', async () => {
    const target = devices[0];
    await page.getByRole('link', { name: 'Presets' }).click();
    await page.getByRole('heading', { level: 1, name: 'Presets' }).waitFor();
    await page.getByRole('button', { name: 'New preset' }).click();
    const editor = page.getByLabel('New preset (JSON)');
    const template = await editor.inputValue();
    await editor.fill(template.replace('"weight": 0', '"weight": "heavy"'));
    await page.getByRole('button', { name: 'Save preset' }).click();
    await page.getByRole('alert').filter({ hasText: /weight/ }).waitFor();
    await editor.fill('{ "name": ');
    await page.getByRole('button', { name: 'Save preset' }).click();
    await page.getByText(/The preset is not valid JSON/).first().waitFor();
    await editor.fill(template);
    await page.getByLabel('Device for a dry run').fill(target.id);
    await page.getByRole('button', { name: 'Dry run' }).click();
    const report = page.getByRole('region', { name: `Dry run on ${target.id}` });
    await report.getByRole('cell', { name: 'sip.example.net' }).waitFor();
    await report.getByText('applies').first().waitFor();
    await assertAccessible('presets (dry run)');
    await screenshot(page, 'e2e-07-presets-dry-run');
    await page.getByRole('button', { name: 'Save preset' }).click();
    await page.getByText('Preset "sip-proxy" was saved (revision 1).').waitFor();
    await page.getByRole('rowheader', { name: /sip-proxy/ }).waitFor();
  });

  it('the other pages render without accessibility violations', async () => {
    for (const [link, heading, shot] of [
      ['Presets', 'Presets', 'e2e-07-presets'],
      ['Webhooks', 'Webhooks', 'e2e-08-webhooks'],
      ['Bootstrap records', 'Bootstrap records', 'e2e-09-bootstrap'],
      ['API tokens', 'API tokens', 'e2e-10-tokens'],
      ['Users', 'Users', 'e2e-11-users'],
    ]) {
      await page.getByRole('link', { name: link, exact: true }).click();
      await page.getByRole('heading', { level: 1, name: heading }).waitFor();
      await page.locator('.loading').waitFor({ state: 'detached' });
      await assertAccessible(heading);
      await screenshot(page, shot);
    }
  });

  it('a viewer is refused a reboot, with the API\'s sentence', async () => {
    await page.getByLabel('Username').fill('vera');
    await page.getByLabel('Role', { exact: true }).selectOption('viewer');
    await page.getByLabel('Password', { exact: true }).fill('viewer-password');
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.getByText('User vera (viewer) was created.').waitFor();
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Username').fill('vera');
    await page.getByLabel('Password').fill('viewer-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    const target = devices[1];
    await page.goto(`${acs.apiUrl}/devices/${encodeURIComponent(target.id)}`);
    await page.getByRole('heading', { level: 1, name: target.id }).waitFor();
    await page.getByRole('button', { name: 'Reboot', exact: true }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Reboot' }).click();
    await page.getByRole('alert').filter({ hasText: 'The role "viewer" may not POST /api/devices/:id/tasks; it needs the role "operator".' }).waitFor();
    await assertAccessible('device (viewer)');
    await screenshot(page, 'e2e-12-viewer-refused');
    const tasks = await api<{ tasks: unknown[] }>('GET', `/api/devices/${encodeURIComponent(target.id)}/tasks?type=reboot`);
    assert.equal(tasks.tasks.length, 0);
  });

  it('had no script errors (CSP included)', () => {
    assert.deepEqual(b.pageErrors, []);
  });
});
