/**
 * Browser test of the device's settings page (playwright-core + Debian chromium): change the
 * periodic interval and the ACS URL, see the next session go to a second ACS with 0 BOOTSTRAP and
 * the new values; invalid input is refused with a clear message; "Check for firmware" sends a
 * RequestDownload; axe-core finds no accessibility violations. Skips when chromium is missing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GetParameterValuesResponse, RequestDownload } from '../../src/cwmp/index.ts';
import { CpeWebServer, validateSettingsForm } from '../../src/cpe/web.ts';
import { startHarness, type Harness } from './harness.ts';
import { ScriptedAcs } from './scripted-acs.ts';

const CHROMIUM = process.env.SWITCHBOARD_CHROMIUM ?? '/usr/bin/chromium';
const MS = 'Device.ManagementServer.';
const AXE = fileURLToPath(new URL('../../node_modules/axe-core/axe.min.js', import.meta.url));

test('validateSettingsForm: clear errors, empty passwords keep the stored ones', () => {
  const current = {
    acsUrl: 'http://a/',
    acsUsername: 'u',
    acsPassword: 'keep-me',
    periodicInformEnable: true,
    periodicInformInterval: 60,
    connectionRequestUsername: 'c',
    connectionRequestPassword: 'cr-keep',
  };
  const bad = validateSettingsForm(new URLSearchParams({ acsUrl: 'ftp://x', periodicInformEnable: '1', periodicInformInterval: '-5' }), current);
  assert.equal(bad.ok, false);
  if (!bad.ok) {
    assert.match(bad.errors.acsUrl ?? '', /http:\/\/ or https:\/\//);
    assert.match(bad.errors.periodicInformInterval ?? '', /at least 1/);
  }
  const good = validateSettingsForm(new URLSearchParams({ acsUrl: 'https://acs.example.net/', periodicInformEnable: '0', periodicInformInterval: '900', acsPassword: '' }), current);
  assert.ok(good.ok);
  if (good.ok) {
    assert.equal(good.settings.acsPassword, 'keep-me');
    assert.equal(good.settings.connectionRequestPassword, 'cr-keep');
    assert.equal(good.settings.periodicInformEnable, false);
  }
});

describe('settings page in a browser', { skip: existsSync(CHROMIUM) ? false : `chromium is not installed at ${CHROMIUM} (apt-get install -y chromium): browser test skipped` }, () => {
  let h: Harness;
  let acs2: ScriptedAcs;
  let web: CpeWebServer;
  let base = '';
  let userDataDir = '';
  let context: import('playwright-core').BrowserContext;
  let page: import('playwright-core').Page;

  before(async () => {
    h = await startHarness({ model: 'GXP2170', serial: '000B82E0E0E0' });
    acs2 = await new ScriptedAcs().listen();
    web = new CpeWebServer(h.agent, { host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${await web.listen()}`;
    userDataDir = mkdtempSync(join(tmpdir(), 'sb-cpe-chromium-'));
    const { chromium } = await import('playwright-core');
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      // The pages forbid scripts (CSP); the test injects axe-core anyway.
      bypassCSP: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(15_000);
  });

  after(async () => {
    await context?.close().catch(() => undefined);
    rmSync(userDataDir, { recursive: true, force: true });
    await web?.close();
    await h?.close();
    await acs2?.close();
  });

  async function axeViolations(): Promise<string[]> {
    await page.addScriptTag({ content: readFileSync(AXE, 'utf8') });
    return page.evaluate(async () => {
      const axe = (window as unknown as { axe: { run: () => Promise<{ violations: { id: string; help: string }[] }> } }).axe;
      const r = await axe.run();
      return r.violations.map((v) => `${v.id}: ${v.help}`);
    });
  }

  test('the TR-069 form has every field of the seed with a label, and Save / Cancel', async () => {
    await page.goto(`${base}/tr069`);
    for (const label of ['ACS URL', 'ACS Username', 'ACS Password', 'Periodic Inform Interval (s)', 'Connection Request Username', 'Connection Request Password']) {
      assert.equal(await page.getByLabel(label, { exact: true }).count(), 1, label);
    }
    assert.equal(await page.getByRole('group', { name: 'Periodic Inform Enable' }).count(), 1);
    assert.equal(await page.getByLabel('Yes').count(), 1);
    assert.equal(await page.getByRole('button', { name: 'Save' }).count(), 1);
    assert.equal(await page.getByRole('button', { name: 'Cancel' }).count(), 1);
    assert.equal(await page.getByLabel('ACS URL', { exact: true }).inputValue(), h.acs.url);
    assert.deepEqual(await axeViolations(), []);
  });

  test('invalid input is refused with a clear message and changes nothing', async () => {
    await page.goto(`${base}/tr069`);
    await page.getByLabel('ACS URL', { exact: true }).fill('acs dot example');
    await page.getByLabel('Periodic Inform Interval (s)').fill('0');
    await page.getByRole('button', { name: 'Save' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    const text = await alert.innerText();
    assert.match(text, /ACS URL must be an http:\/\/ or https:\/\/ URL/);
    assert.match(text, /Periodic Inform Interval must be a whole number/);
    assert.equal(h.agent.acsUrl, h.acs.url);
    assert.deepEqual(await axeViolations(), []);
  });

  test('changing the ACS URL and the periodic interval: the next session goes to the new ACS with 0 BOOTSTRAP and the new values', async () => {
    acs2.queue.push({ method: 'GetParameterValues', parameterNames: [`${MS}URL`, `${MS}PeriodicInformInterval`, `${MS}PeriodicInformEnable`] });
    await page.goto(`${base}/tr069`);
    await page.getByLabel('ACS URL', { exact: true }).fill(acs2.url);
    await page.getByLabel('Yes').check();
    await page.getByLabel('Periodic Inform Interval (s)').fill('120');
    const saved = Date.now();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').waitFor();
    assert.match(await page.getByRole('status').innerText(), /Settings saved/);
    await acs2.waitForSessions(1);
    const inform = acs2.informs[0];
    assert.deepEqual(inform.event.map((e) => e.eventCode), ['0 BOOTSTRAP']);
    const gpv = acs2.answers[0].message as GetParameterValuesResponse;
    const values = Object.fromEntries(gpv.parameterList.map((p) => [p.name, p.value]));
    assert.equal(values[`${MS}URL`], acs2.url);
    assert.equal(values[`${MS}PeriodicInformInterval`], '120');
    assert.ok(['1', 'true'].includes(values[`${MS}PeriodicInformEnable`]));
    // The periodic timer was re-armed for the new interval.
    const next = h.agent.nextPeriodicInform();
    assert.ok(next !== undefined && Math.abs(next - (saved + 120_000)) < 5_000, `next periodic inform at ${next}`);
    // The form shows the saved values.
    assert.equal(await page.getByLabel('Periodic Inform Interval (s)').inputValue(), '120');
  });

  test('the status page shows the device and the last session; "Check for firmware" sends a RequestDownload', async () => {
    await page.goto(`${base}/`);
    const body = await page.locator('main').innerText();
    for (const s of ['GXP2170', '000B82E0E0E0', 'Firmware version', 'Account 1', 'Last TR-069 session', 'Success']) assert.ok(body.includes(s), s);
    assert.deepEqual(await axeViolations(), []);
    const before = acs2.received.length;
    await page.getByRole('button', { name: 'Check for firmware' }).click();
    await page.getByRole('status').waitFor();
    await acs2.waitForSessions(2);
    const rd = acs2.received.slice(before).find((p) => p.message?.method === 'RequestDownload');
    assert.ok(rd, 'RequestDownload sent');
    const msg = rd.message as RequestDownload;
    assert.equal(msg.fileType, '1 Firmware Upgrade Image');
    assert.deepEqual(msg.fileTypeArg.map((a) => a.name), ['Model', 'Version']);
    assert.ok(acs2.informs.at(-1)!.event.some((e) => e.eventCode === '9 REQUEST DOWNLOAD'));
    assert.ok(!h.agent.pendingEvents().some((e) => e.eventCode === '9 REQUEST DOWNLOAD'));
  });
});
