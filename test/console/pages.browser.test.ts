/**
 * The console in a real browser against the REST API with seeded devices (a stand-in ACS core):
 * every page renders without accessibility violations, search and pagination go through the
 * server, a viewer's write is refused with the API's sentence, errors are readable sentences.
 * (test/console/e2e.browser.test.ts drives the real ACS with simulated devices.)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { axe, browserUnavailable, ensureConsoleBuilt, formatViolations, launch, screenshot, type BrowserSession } from './browser.ts';
import { ADMIN_PASSWORD, seedDevices, seededId, setup, type Harness } from './harness.ts';

const unavailable = browserUnavailable();
if (unavailable) console.log(`# ${unavailable}`);

const DEVICES = 130;

async function login(page: Page, base: string, username: string, password: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
}

async function assertAccessible(page: Page, what: string): Promise<void> {
  const violations = await axe(page);
  assert.equal(violations.length, 0, `${what}: axe violations:\n${formatViolations(violations)}`);
}

describe('console pages in chromium (seeded devices)', { skip: unavailable ?? false }, () => {
  let h: Harness;
  let b: BrowserSession;
  let page: Page;

  before(async () => {
    ensureConsoleBuilt();
    h = await setup({ listen: true, activityIntervalMs: 500 });
    await seedDevices(h.store, DEVICES);
    await h.call('POST', '/api/users', { body: { username: 'victor', role: 'viewer', password: 'viewer-password' } });
    b = await launch();
    page = b.page;
  });
  after(async () => {
    await b?.close();
    await h?.close();
  });

  it('shows the login page, refuses a wrong password with a sentence, and logs in', async () => {
    await page.goto(`${h.url}/devices`);
    await page.getByRole('heading', { name: 'Switchboard' }).waitFor();
    await assertAccessible(page, 'login');
    await screenshot(page, '01-login');
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'The username or the password is wrong.' }).waitFor();
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Devices' }).waitFor();
  });

  it('overview: counts, chart and models, no accessibility violations', async () => {
    await page.getByRole('link', { name: 'Overview' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    await page.locator('.stat-total .stat-value').filter({ hasText: String(DEVICES) }).waitFor();
    // 300 s interval × 2 + 60 s = 11 minutes: devices 0..10 (seen 0.5..10.5 minutes ago) are online.
    assert.equal(await page.locator('.stat-online .stat-value').textContent(), '11');
    assert.equal(await page.locator('.stat-offline .stat-value').textContent(), String(DEVICES - 11));
    await page.getByRole('img', { name: /Informs per minute over the last 3 hours/ }).waitFor();
    await page.getByRole('cell', { name: /1\.0\.11\.6/ }).first().waitFor();
    await page.locator('.live').or(page.getByText('live ·')).first().waitFor();
    await assertAccessible(page, 'overview');
    await screenshot(page, '02-overview');
  });

  it('devices: server-side pagination with a cursor, sorting, and search by a parameter value', async () => {
    await page.getByRole('link', { name: 'Devices' }).first().click();
    await page.getByRole('heading', { level: 1, name: 'Devices' }).waitFor();
    await page.getByText(`1–50 of ${DEVICES}`).waitFor();
    await assertAccessible(page, 'devices');
    await screenshot(page, '03-devices');
    await page.getByRole('button', { name: 'Next →' }).click();
    await page.getByText(`51–100 of ${DEVICES}`).waitFor();
    await page.getByRole('button', { name: 'Next →' }).click();
    await page.getByText(`101–${DEVICES} of ${DEVICES}`).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Next →' }).isDisabled(), true);
    await page.getByRole('button', { name: '← Previous' }).click();
    await page.getByText(`51–100 of ${DEVICES}`).waitFor();

    await page.getByLabel('Search', { exact: true }).fill('Device.Services.VoiceService.1.VoiceProfile.1.Line.1.SIP.AuthUserName=1042');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByText('1 device matches').waitFor();
    const rows = page.locator('table.devices tbody tr');
    assert.equal(await rows.count(), 1);
    assert.match((await rows.first().textContent()) ?? '', new RegExp(seededId(42)));
    assert.match(page.url(), /search=Device\./, 'the search is in the URL (Back and shared links work)');

    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.getByText(`${DEVICES} devices match`).waitFor();
    await page.getByRole('button', { name: 'Last contact' }).click();
    await page.locator('th[aria-sort="ascending"]').filter({ hasText: 'Last contact' }).waitFor();
  });

  it('tags several selected devices at once and says how it went', async () => {
    await page.goto(`${h.url}/devices?sort=id`);
    await page.getByLabel(`Select ${seededId(0)}`).check();
    await page.getByLabel(`Select ${seededId(4)}`).check();
    await page.getByRole('button', { name: 'Add tag…' }).click();
    await page.getByLabel('Tag', { exact: true }).last().fill('lab');
    await page.getByRole('button', { name: 'Add tag', exact: true }).click();
    await page.getByText('Tag "lab" added on 2 of 2 devices.').waitFor();
    for (const i of [0, 4]) assert.deepEqual((await h.call('GET', `/api/devices/${encodeURIComponent(seededId(i))}`)).json().tags, ['lab']);
    await page.locator('table.devices tbody tr').filter({ hasText: seededId(4) }).getByText('lab').waitFor();
  });

  it('a readable sentence for an invalid filter', async () => {
    await page.goto(`${h.url}/devices?param=Device.&op=eq&value=1`);
    await page.getByRole('alert').filter({ hasText: 'Invalid parameter filter "Device. eq 1": the name is an object path' }).waitFor();
  });

  it('device page: identity, lazy parameter tree, timeline; axe clean', async () => {
    const id = seededId(3);
    await page.goto(`${h.url}/devices/${encodeURIComponent(id)}`);
    await page.getByRole('heading', { level: 1, name: id }).waitFor();
    await page.getByText('Live updates on').waitFor();
    // The root is open; deeper objects render only when expanded.
    assert.equal(await page.getByText('ProxyServer', { exact: true }).count(), 0);
    for (const path of ['Services.', 'Services.VoiceService.', 'Services.VoiceService.1.', 'Services.VoiceService.1.VoiceProfile.', 'Services.VoiceService.1.VoiceProfile.1.', 'Services.VoiceService.1.VoiceProfile.1.SIP.']) {
      const toggle = page.locator(`button.toggle[data-path="Device.${path}"]`);
      assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
      await toggle.click();
      assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
    }
    await page.getByText('ProxyServer', { exact: true }).waitFor();
    await page.getByText('Inform: 2 PERIODIC').waitFor();
    await assertAccessible(page, 'device');
    await screenshot(page, '04-device');
  });

  it('device page: live timeline shows a task queued elsewhere', async () => {
    const id = seededId(3);
    const res = await h.call('POST', `/api/devices/${encodeURIComponent(id)}/tasks`, { body: { type: 'getRPCMethods' } });
    assert.equal(res.statusCode, 202);
    await page.locator('.timeline').getByText('(getRPCMethods)').waitFor();
  });

  it('users and tokens pages (admin), axe clean; the secret of a new token is shown once', async () => {
    await page.getByRole('link', { name: 'Users' }).click();
    await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
    await page.getByRole('rowheader', { name: 'victor' }).waitFor();
    await page.getByLabel('Username').fill('opal');
    await page.getByLabel('Role', { exact: true }).selectOption('operator');
    await page.getByLabel('Password', { exact: true }).fill('operator-pass');
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.getByText('User opal (operator) was created.').waitFor();
    await assertAccessible(page, 'users');
    await screenshot(page, '05-users');

    await page.getByRole('link', { name: 'API tokens' }).click();
    await page.getByRole('heading', { level: 1, name: 'API tokens' }).waitFor();
    await page.getByLabel('Name').fill('billing-system');
    await page.getByRole('button', { name: 'Create token' }).click();
    await page.getByText(/Copy its secret now/).waitFor();
    assert.match(await page.getByLabel('Secret of billing-system').inputValue(), /^sb_/);
    await page.getByRole('rowheader', { name: 'billing-system' }).waitFor();
    await assertAccessible(page, 'tokens');
    await screenshot(page, '06-tokens');

    await page.getByRole('link', { name: 'admin' }).click();
    await page.getByRole('heading', { level: 1, name: 'Your account' }).waitFor();
    await assertAccessible(page, 'account');
  });

  it('is usable with the keyboard: skip link, navigation, focus on the new page\'s heading, dialogs', async () => {
    await page.goto(`${h.url}/`);
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
    await page.getByRole('link', { name: 'Devices' }).first().focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Devices' }).waitFor();
    // focus moves in an effect after the page rendered: wait for it (a few seconds at most)
    await page.waitForFunction(() => document.activeElement?.tagName === 'H1', null, { timeout: 5000 }).catch(() => undefined);
    assert.equal(await page.evaluate(() => document.activeElement?.tagName), 'H1', 'focus moves to the new page');
    // Select a device and open the delete dialog with the keyboard; Escape cancels it.
    await page.getByLabel(`Select ${seededId(5)}`).focus();
    await page.keyboard.press('Space');
    await page.getByRole('toolbar').getByRole('button', { name: 'Delete' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('dialog', { name: 'Delete devices' }).waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'hidden' });
    assert.equal((await h.call('GET', `/api/devices/${encodeURIComponent(seededId(5))}`)).statusCode, 200, 'nothing was deleted');
    await page.getByRole('button', { name: 'Clear selection' }).click();
  });

  it('a viewer sees the API refuse a reboot, in words', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByText('You have logged out.').waitFor();
    await login(page, h.url, 'victor', 'viewer-password');
    assert.equal(await page.getByRole('link', { name: 'Users' }).count(), 0, 'admin pages are not offered');
    await page.goto(`${h.url}/devices`);
    await page.getByLabel(`Select ${seededId(0)}`).check();
    await page.getByLabel(`Select ${seededId(1)}`).check();
    await page.getByRole('toolbar').getByRole('button', { name: 'Reboot' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Reboot' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'Reboot queued on 0 of 2 devices.' });
    await alert.waitFor();
    assert.match((await alert.textContent()) ?? '', /The role "viewer" may not POST \/api\/devices\/:id\/tasks; it needs the role "operator"\./);
    await screenshot(page, '07-viewer-refused');
    const tasks = await h.call('GET', '/api/tasks?type=reboot');
    assert.equal(tasks.json().tasks.length, 0, 'nothing was queued');
  });

  it('an expired session sends the user back to the login page with the reason', async () => {
    // End the viewer's sessions from the admin side: the next call is refused and the console logs out.
    const users = (await h.call('GET', '/api/users')).json().users as { id: string; username: string }[];
    const victor = users.find((u) => u.username === 'victor')!;
    await h.call('PATCH', `/api/users/${victor.id}`, { body: { role: 'operator' } });
    await page.getByRole('link', { name: 'Overview' }).click();
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    await page.getByText('The bearer token is unknown or has been revoked.').waitFor();
  });

  it('the page had no script errors', () => {
    assert.deepEqual(b.pageErrors, []);
  });
});
