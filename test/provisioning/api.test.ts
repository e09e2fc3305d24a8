/**
 * The provisioning REST routes: a 400 with a clear `{ code, message }` for bad input on every
 * route, the happy paths, roles, audit, secrets, and the public file route (HEAD, Range, ETag,
 * Basic and Digest).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { buildDigestAuthorization, parseAuthenticate, type DigestChallenge } from '../../src/cwmp/auth.ts';
import { seedDevice } from '../api/helpers.ts';
import { ACCOUNTS_CSV, MS, VOICE_PRESET } from './fixtures.ts';
import { setupApi, type ApiHarness } from './api-harness.ts';

const FW = '1 Firmware Upgrade Image';
const CFG = '3 Vendor Configuration File';

describe('provisioning API', () => {
  let h: ApiHarness;
  let deviceId: string;
  let fileId: string;
  let presetId: string;
  let webhookId: string;
  before(async () => {
    h = await setupApi();
    deviceId = await seedDevice(h.store, { productClass: 'HT502', serialNumber: '000B82000502', softwareVersion: '1.0.3.10' }, { [`${MS}PeriodicInformInterval`]: '300' });
    await seedDevice(h.store, { productClass: 'HT502', serialNumber: '000B82000503', softwareVersion: '1.0.3.10' });
    const up = await h.call('POST', `/api/files?name=ht502fw.bin&fileType=${encodeURIComponent(FW)}&productClass=HT502&version=1.0.10.0`, {
      payload: Buffer.from('firmware bytes'),
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(up.statusCode, 201, up.body);
    fileId = up.json().id;
    const pr = await h.call('POST', '/api/presets', { body: VOICE_PRESET });
    assert.equal(pr.statusCode, 201, pr.body);
    presetId = pr.json().id;
    const wh = await h.call('POST', '/api/webhooks', { body: { name: 'w', url: 'http://127.0.0.1:1/x', secret: 'sixteen-chars-ok!', events: ['fault'] } });
    assert.equal(wh.statusCode, 201, wh.body);
    webhookId = wh.json().id;
  });
  after(() => h.close());

  const csv = (text: string) => ({ payload: text, headers: { 'content-type': 'text/csv' } });
  const bin = (text: string) => ({ payload: Buffer.from(text), headers: { 'content-type': 'application/octet-stream' } });
  const long = 'x'.repeat(70);

  it('answers 400 { code, message } naming the problem, on every route', async () => {
    const cases: [string, string, Parameters<ApiHarness['call']>[2], string, RegExp][] = [
      // presets
      ['GET', '/api/presets?includeSecrets=maybe', {}, 'VALIDATION_FAILED', /includeSecrets/],
      ['POST', '/api/presets', { body: { name: 'x' } }, 'VALIDATION_FAILED', /\/desired: Expected required property/],
      ['POST', '/api/presets', { body: { name: 'x', desired: { parameters: [{ name: 'Device.', value: 1 }] } } }, 'VALIDATION_FAILED', /\/desired\/parameters\/0\/name/],
      ['POST', '/api/presets', { body: { name: 'x', desired: { parameters: [{ name: 'Device.A', value: '{{ broken' }] } } }, 'VALIDATION_FAILED', /template: "\{\{" without a closing/],
      ['POST', '/api/presets', { body: { name: 'x', desired: { objects: [{ path: 'Device.T', instances: [] }] } } }, 'VALIDATION_FAILED', /\/desired\/objects\/0\/path/],
      ['POST', '/api/presets', { body: { name: 'x', desired: { objects: [{ path: 'Device.T.', key: ['K'], instances: [{ values: { V: 1 } }] }] } } }, 'VALIDATION_FAILED', /must give the key parameter K/],
      ['POST', '/api/presets', { body: { name: 'x', desired: { firmware: { version: '1.0', fileId: 'file_nope' } } } }, 'VALIDATION_FAILED', /no file has the id "file_nope"/],
      ['POST', '/api/presets', { body: { name: 'x', triggers: [], desired: {} } }, 'VALIDATION_FAILED', /needs a schedule/],
      ['POST', '/api/presets', { body: { name: 'x', schedule: { window: { start: '25:00', end: '01:00' } }, desired: {} } }, 'VALIDATION_FAILED', /\/schedule\/window\/start/],
      ['POST', '/api/presets', { body: { name: 'x', precondition: { softwareVersion: { lt: '' } }, desired: {} } }, 'VALIDATION_FAILED', /softwareVersion\/lt/],
      ['POST', '/api/presets', { payload: '{"name":', headers: { 'content-type': 'application/json' } }, 'MALFORMED_JSON', /not valid JSON/],
      ['GET', `/api/presets/${long}`, {}, 'VALIDATION_FAILED', /path parameter/],
      ['PUT', '/api/presets/pre_x', { body: { name: 'x', desired: { attributes: [{ name: 'Device.A' }] } } }, 'VALIDATION_FAILED', /must set notification or accessList/],
      ['DELETE', `/api/presets/${long}`, {}, 'VALIDATION_FAILED', /path parameter/],
      // files
      ['POST', '/api/files?name=a.bin', bin('x'), 'VALIDATION_FAILED', /fileType/],
      ['POST', `/api/files?name=a/b.bin&fileType=${encodeURIComponent(FW)}`, bin('x'), 'VALIDATION_FAILED', /\/name/],
      ['POST', `/api/files?name=a.bin&fileType=Firmware`, bin('x'), 'VALIDATION_FAILED', /\/fileType/],
      ['POST', `/api/files?name=a.bin&fileType=${encodeURIComponent(FW)}&authScheme=basic`, bin('x'), 'VALIDATION_FAILED', /needs a username and a password/],
      ['POST', `/api/files?name=a.bin&fileType=${encodeURIComponent(FW)}`, bin(''), 'EMPTY_FILE', /empty/],
      ['GET', '/api/files?limit=0', {}, 'VALIDATION_FAILED', /limit/],
      ['GET', `/api/files/${long}`, {}, 'VALIDATION_FAILED', /path parameter/],
      ['GET', `/api/files/${long}/content`, {}, 'VALIDATION_FAILED', /path parameter/],
      ['PATCH', '/api/files/file_x', { body: { oui: 'xyz' } }, 'VALIDATION_FAILED', /\/oui/],
      ['PATCH', '/api/files/file_x', { body: { auth: { scheme: 'none', username: 'u' } } }, 'VALIDATION_FAILED', /takes no username/],
      ['DELETE', `/api/files/${long}`, {}, 'VALIDATION_FAILED', /path parameter/],
      // variables
      ['POST', '/api/variables/import', csv('sip1_user\n1001\n'), 'INVALID_CSV', /no key column/],
      ['POST', '/api/variables/import', csv('mac,sip1_user\n000B82000001,1\n000b82000001,2\n'), 'INVALID_CSV', /line 3: key 000B82000001 already appears on line 2/],
      ['POST', '/api/variables/import', csv('mac,sip user\nx,1\n'), 'INVALID_CSV', /"sip user" is not a variable name/],
      ['POST', '/api/variables/import', csv('mac,a\n"x,1\n'), 'INVALID_CSV', /not closed/],
      ['POST', '/api/variables/import?mode=append', csv('mac,a\nx,1\n'), 'VALIDATION_FAILED', /mode/],
      ['GET', '/api/variables?limit=abc', {}, 'VALIDATION_FAILED', /limit/],
      ['GET', `/api/variables/${'k'.repeat(600)}`, {}, 'VALIDATION_FAILED', /path parameter/],
      ['PUT', '/api/variables/000B82000001', { body: { variables: { 'bad name': 'x' } } }, 'VALIDATION_FAILED', /variables/],
      ['DELETE', `/api/variables/${'k'.repeat(600)}`, {}, 'VALIDATION_FAILED', /path parameter/],
      // bootstrap
      ['GET', '/api/bootstrap-policy?x=1', {}, 'VALIDATION_FAILED', /query string/],
      ['PUT', '/api/bootstrap-policy', { body: { unknownDevices: 'maybe' } }, 'VALIDATION_FAILED', /unknownDevices/],
      ['GET', '/api/bootstrap?cursor=', {}, 'VALIDATION_FAILED', /cursor/],
      ['POST', '/api/bootstrap/import', csv('mac,acsUrl\n000B82000001,ftp://x\n'), 'INVALID_CSV', /line 2: .*acsUrl/],
      ['GET', `/api/bootstrap/${long}${long}`, {}, 'VALIDATION_FAILED', /path parameter/],
      ['PUT', '/api/bootstrap/000B82000001', { body: { acsPassword: 'p' } }, 'VALIDATION_FAILED', /\/acsPassword: needs acsUsername/],
      ['PUT', '/api/bootstrap/000B82000001', { body: { periodicInformInterval: 0 } }, 'VALIDATION_FAILED', /periodicInformInterval/],
      ['DELETE', `/api/bootstrap/${long}${long}`, {}, 'VALIDATION_FAILED', /path parameter/],
      // rollouts
      ['POST', '/api/rollouts', { body: { name: 'r', fileId, target: {}, stages: [{ count: 1, percent: 5 }], maxConcurrent: 1, failureThreshold: { count: 1 } } }, 'VALIDATION_FAILED', /exactly one of count or percent/],
      ['POST', '/api/rollouts', { body: { name: 'r', fileId, target: {}, stages: [{ count: 1 }], maxConcurrent: 0, failureThreshold: { count: 1 } } }, 'VALIDATION_FAILED', /maxConcurrent/],
      ['POST', '/api/rollouts', { body: { name: 'r', fileId, target: {}, stages: [{ count: 1 }], maxConcurrent: 1, failureThreshold: {} } }, 'VALIDATION_FAILED', /must give count or percent/],
      ['POST', '/api/rollouts', { body: { name: 'r', fileId: 'file_nope', target: {}, stages: [{ count: 1 }], maxConcurrent: 1, failureThreshold: { count: 1 } } }, 'INVALID_FILE_REFERENCE', /no file has the id/],
      ['POST', '/api/rollouts', { body: { name: 'r', fileId, target: { productClass: ['GXP9999'] }, stages: [{ count: 1 }], maxConcurrent: 1, failureThreshold: { count: 1 } } }, 'NO_MATCHING_DEVICES', /No device/],
      ['GET', '/api/rollouts?state=sleeping', {}, 'VALIDATION_FAILED', /state/],
      ['GET', `/api/rollouts/${long}`, {}, 'VALIDATION_FAILED', /path parameter/],
      ['GET', '/api/rollouts/ro_x/devices?state=lost', {}, 'VALIDATION_FAILED', /state/],
      ['POST', '/api/rollouts/ro_x/pause', { body: { why: 'x' } }, 'VALIDATION_FAILED', /reason/],
      ['POST', '/api/rollouts/ro_x/resume', { body: [] }, 'VALIDATION_FAILED', /reason/],
      ['POST', '/api/rollouts/ro_x/cancel', { body: { reason: 5 } }, 'VALIDATION_FAILED', /reason/],
      // webhooks
      ['GET', '/api/webhooks?all=1', {}, 'VALIDATION_FAILED', /query string/],
      ['POST', '/api/webhooks', { body: { name: 'w', url: 'ftp://x.example', secret: 'sixteen-chars-ok!', events: ['fault'] } }, 'VALIDATION_FAILED', /\/url/],
      ['POST', '/api/webhooks', { body: { name: 'w', url: 'http://u:p@x.example/h', secret: 'sixteen-chars-ok!', events: ['fault'] } }, 'VALIDATION_FAILED', /must not carry credentials/],
      ['POST', '/api/webhooks', { body: { name: 'w', url: 'http://x.example/h', secret: 'sixteen-chars-ok!', events: ['device.exploded'] } }, 'VALIDATION_FAILED', /events/],
      ['GET', `/api/webhooks/${long}`, {}, 'VALIDATION_FAILED', /path parameter/],
      ['PUT', '/api/webhooks/wh_x', { body: { name: 'w' } }, 'VALIDATION_FAILED', /url/],
      ['DELETE', `/api/webhooks/${long}`, {}, 'VALIDATION_FAILED', /path parameter/],
      ['GET', `/api/webhooks/wh_x/deliveries?status=lost`, {}, 'VALIDATION_FAILED', /status/],
      ['POST', `/api/webhooks/${long}/test`, {}, 'VALIDATION_FAILED', /path parameter/],
      // device views
      ['GET', `/api/devices/${deviceId}/provisioning/dry-run?event=reboot`, {}, 'VALIDATION_FAILED', /event/],
      ['POST', `/api/devices/${deviceId}/provisioning/dry-run`, { body: { presets: [{ name: 'p' }] } }, 'VALIDATION_FAILED', /presets\/0\/desired/],
      ['GET', `/api/devices/${'d'.repeat(600)}/provisioning`, {}, 'VALIDATION_FAILED', /path parameter/],
      ['DELETE', `/api/devices/${deviceId}/provisioning/refusals?name=`, {}, 'VALIDATION_FAILED', /name/],
      ['GET', `/api/devices/${deviceId}/history?since=yesterday`, {}, 'VALIDATION_FAILED', /since/],
      ['POST', `/api/devices/${deviceId}/download`, { body: { url: 'http://x' } }, 'VALIDATION_FAILED', /fileId/],
      ['POST', `/api/devices/${deviceId}/download`, { body: { fileId: 'file_nope' } }, 'INVALID_FILE_REFERENCE', /no file has the id "file_nope"/],
    ];
    const seen = new Set<string>();
    for (const [method, url, options, code, message] of cases) {
      const res = await h.call(method, url, options);
      const where = `${method} ${url}`;
      assert.equal(res.statusCode, 400, `${where}: ${res.body}`);
      const body = res.json() as { code: string; message: string };
      assert.equal(body.code, code, `${where}: ${res.body}`);
      assert.match(body.message, message, `${where}: ${body.message}`);
      seen.add(`${method} ${url.replace(/\?.*$/, '').replace(long + long, ':key').replace(long, ':id')}`);
    }
    // every provisioning route has a 400 case
    const routes = h.app.apiRoutes.filter((r) => /\/(presets|files|variables|bootstrap|rollouts|webhooks)|provisioning|history/.test(r.url));
    for (const r of routes) {
      const pattern = new RegExp(`^${r.method} ${r.url.replace(/:\w+/g, '[^/]+')}$`);
      assert.ok([...seen].some((s) => pattern.test(s)), `no 400 case for ${r.method} ${r.url}`);
    }
    assert.ok(routes.length >= 40, `${routes.length} routes`);
  });

  it('answers 404 with the object named, 401/403 by role', async () => {
    for (const [method, url, code] of [
      ['GET', '/api/presets/pre_nope', 'PRESET_NOT_FOUND'],
      ['GET', '/api/files/file_nope', 'FILE_NOT_FOUND'],
      ['GET', '/api/rollouts/ro_nope', 'ROLLOUT_NOT_FOUND'],
      ['POST', '/api/rollouts/ro_nope/pause', 'ROLLOUT_NOT_FOUND'],
      ['GET', '/api/webhooks/wh_nope', 'WEBHOOK_NOT_FOUND'],
      ['GET', '/api/bootstrap/000B82999999', 'BOOTSTRAP_NOT_FOUND'],
      ['GET', '/api/variables/000B82999999', 'VARIABLES_NOT_FOUND'],
      ['GET', '/api/devices/000B82-X-1/provisioning/dry-run', 'DEVICE_NOT_FOUND'],
      ['GET', '/api/devices/000B82-X-1/history', 'DEVICE_NOT_FOUND'],
    ] as const) {
      const res = await h.call(method, url);
      assert.equal(res.statusCode, 404, `${method} ${url}`);
      assert.equal(res.json().code, code);
      assert.match(res.json().message, /nope|999999|X-1/);
    }
    const json = await h.call('POST', '/api/variables/import', { body: { mac: 'x' } });
    assert.deepEqual([json.statusCode, json.json().code], [415, 'UNSUPPORTED_MEDIA_TYPE']);
    assert.match(json.json().message, /text\/csv/);
    assert.equal((await h.call('GET', '/api/presets', { token: null })).statusCode, 401);
    assert.equal((await h.call('POST', '/api/presets', { token: h.tokens.viewer, body: VOICE_PRESET })).statusCode, 403);
    assert.equal((await h.call('GET', '/api/webhooks', { token: h.tokens.operator })).statusCode, 403, 'webhooks hold secrets: admin only');
    assert.equal((await h.call('GET', '/api/presets', { token: h.tokens.viewer })).statusCode, 200);
    assert.equal((await h.call('GET', '/api/presets?includeSecrets=true', { token: h.tokens.operator })).statusCode, 403);
  });

  it('creates, reads, replaces and deletes presets; names are unique; writes are audited', async () => {
    const dup = await h.call('POST', '/api/presets', { body: VOICE_PRESET });
    assert.equal(dup.statusCode, 409);
    assert.equal(dup.json().code, 'PRESET_NAME_TAKEN');
    const got = await h.call('GET', `/api/presets/${presetId}`);
    assert.equal(got.json().revision, 1);
    assert.deepEqual(got.json().triggers, ['always']);
    const put = await h.call('PUT', `/api/presets/${presetId}`, { body: { ...VOICE_PRESET, weight: 5 } });
    assert.equal(put.statusCode, 200);
    assert.deepEqual([put.json().revision, put.json().weight], [2, 5]);
    const tmp = await h.call('POST', '/api/presets', { body: { name: 'tmp', desired: { parameters: [{ name: `${MS}Password`, value: 'literal-secret' }] } } });
    assert.equal(tmp.json().desired.parameters[0].value, '[redacted]', 'literal secrets are hidden');
    const withSecrets = await h.call('GET', `/api/presets/${tmp.json().id}?includeSecrets=true`);
    assert.equal(withSecrets.json().desired.parameters[0].value, 'literal-secret');
    assert.equal((await h.call('DELETE', `/api/presets/${tmp.json().id}`)).statusCode, 204);
    assert.equal((await h.call('DELETE', `/api/presets/${tmp.json().id}`)).statusCode, 404);
    const audit = await h.store.listAudit({ action: 'preset.update', target: presetId });
    assert.equal(audit.entries.length, 1);
    assert.equal(audit.entries[0].target, presetId);
    const secretsRead = await h.store.listAudit({ action: 'secrets.read' });
    assert.ok(secretsRead.entries.length >= 1, 'reading secrets is audited');
  });

  it('imports the variables CSV, hides password variables from non-admins, and never copies the CSV into the audit log', async () => {
    const res = await h.call('POST', '/api/variables/import', csv(ACCOUNTS_CSV));
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { keys: 2, columns: ['sip1_user', 'sip1_password', 'sip2_user', 'sip2_password', 'sip3_user', 'sip3_password'], keyColumn: 'mac', mode: 'merge' });
    const one = await h.call('GET', '/api/variables/00:0b:82:00:05:02', { token: h.tokens.operator });
    assert.equal(one.statusCode, 200);
    assert.deepEqual(one.json().variables, { sip1_user: '5020001', sip1_password: '[redacted]', sip2_user: '5020002', sip2_password: '[redacted]' });
    const admin = await h.call('GET', '/api/variables/000B82000502?includeSecrets=true');
    assert.equal(admin.json().variables.sip1_password, 'pw-x');
    const entry = (await h.store.listAudit({ action: 'variables.import' })).entries[0];
    assert.ok(!JSON.stringify(entry.detail).includes('pw-a'), 'no password in the audit log');
    // replace mode drops what the row does not give
    await h.call('POST', '/api/variables/import?mode=replace', csv('serial,sip1_user\n000B82000502,5029999\n'));
    assert.deepEqual((await h.call('GET', '/api/variables/000B82000502?includeSecrets=true')).json().variables, { sip1_user: '5029999' });
    const put = await h.call('PUT', '/api/variables/000B82000502', { body: { variables: { sip1_user: '1', sip1_password: 'p' } } });
    assert.equal(put.statusCode, 200);
    assert.equal((await h.call('DELETE', '/api/variables/000B82000502')).statusCode, 204);
    assert.equal((await h.call('DELETE', '/api/variables/000B82000502')).statusCode, 404);
  });

  it('uploads files content-addressed, lists and patches them, refuses to delete a file in use', async () => {
    const again = await h.call('POST', `/api/files?name=copy.bin&fileType=${encodeURIComponent(FW)}&productClass=HT503&version=1.0.10.0`, bin('firmware bytes'));
    assert.equal(again.statusCode, 201);
    const first = (await h.call('GET', `/api/files/${fileId}`)).json();
    assert.equal(again.json().sha256, first.sha256);
    assert.equal(first.sha256, createHash('sha256').update('firmware bytes').digest('hex'));
    assert.equal(first.size, 14);
    assert.match(first.url, new RegExp(`/files/${fileId}/ht502fw.bin$`));
    const list = await h.call('GET', '/api/files?productClass=HT503');
    assert.deepEqual(list.json().files.map((f: { id: string }) => f.id), [again.json().id]);
    const content = await h.call('GET', `/api/files/${fileId}/content`, { token: h.tokens.viewer });
    assert.equal(content.body, 'firmware bytes');
    const patched = await h.call('PATCH', `/api/files/${again.json().id}`, { body: { description: 'copy', auth: { scheme: 'basic', username: 'dl', password: 'pw' } } });
    assert.equal(patched.statusCode, 200);
    assert.deepEqual(patched.json().auth, { scheme: 'basic', username: 'dl', passwordSet: true });
    // a preset that uses the file keeps it
    const p = await h.call('POST', '/api/presets', { body: { name: 'fw', desired: { firmware: { version: '1.0.10.0', fileId: again.json().id } } } });
    assert.equal(p.statusCode, 201, p.body);
    const del = await h.call('DELETE', `/api/files/${again.json().id}`);
    assert.equal(del.statusCode, 409);
    assert.match(del.json().message, /preset fw/);
    await h.call('DELETE', `/api/presets/${p.json().id}`);
    assert.equal((await h.call('DELETE', `/api/files/${again.json().id}`)).statusCode, 204);
    // the shared content stays for the other record
    assert.equal((await h.call('GET', `/api/files/${fileId}/content`)).body, 'firmware bytes');
    const wrongType = await h.call('POST', '/api/presets', { body: { name: 'cfg', desired: { configFile: { fileId } } } });
    assert.equal(wrongType.statusCode, 400);
    assert.match(wrongType.json().message, /not a "3 Vendor Configuration File"/);
  });

  it('serves files publicly with HEAD, Range, ETag and per-file credentials', async () => {
    const url = `/files/${fileId}/ht502fw.bin`;
    const get = await h.app.inject({ method: 'GET', url });
    assert.equal(get.statusCode, 200);
    assert.equal(get.body, 'firmware bytes');
    const etag = String(get.headers.etag);
    assert.equal(etag, `"${createHash('sha256').update('firmware bytes').digest('hex')}"`);
    assert.equal(get.headers['accept-ranges'], 'bytes');
    const head = await h.app.inject({ method: 'HEAD', url });
    assert.equal(head.statusCode, 200);
    assert.equal(head.headers['content-length'], '14');
    assert.equal(head.body, '');
    const range = await h.app.inject({ method: 'GET', url, headers: { range: 'bytes=9-' } });
    assert.deepEqual([range.statusCode, range.headers['content-range'], range.body], [206, 'bytes 9-13/14', 'bytes']);
    const suffix = await h.app.inject({ method: 'GET', url, headers: { range: 'bytes=-5' } });
    assert.equal(suffix.body, 'bytes');
    const outside = await h.app.inject({ method: 'GET', url, headers: { range: 'bytes=14-20' } });
    assert.deepEqual([outside.statusCode, outside.headers['content-range']], [416, 'bytes */14']);
    const stale = await h.app.inject({ method: 'GET', url, headers: { range: 'bytes=0-3', 'if-range': '"other"' } });
    assert.equal(stale.statusCode, 200, 'If-Range with another ETag: the whole file');
    assert.equal((await h.app.inject({ method: 'GET', url, headers: { 'if-none-match': etag } })).statusCode, 304);
    assert.equal((await h.app.inject({ method: 'GET', url: `/files/${fileId}/other.bin` })).statusCode, 404);

    // Basic
    const basic = await h.call('POST', `/api/files?name=cfg.xml&fileType=${encodeURIComponent(CFG)}&authScheme=basic&username=dl&password=s3cret`, bin('<gs_provision/>'));
    assert.equal(basic.statusCode, 201);
    assert.ok(!JSON.stringify((await h.store.listAudit({ action: 'file.upload' })).entries).includes('s3cret'), 'the password is not audited');
    const burl = `/files/${basic.json().id}/cfg.xml`;
    const noAuth = await h.app.inject({ method: 'GET', url: burl });
    assert.equal(noAuth.statusCode, 401);
    assert.match(String(noAuth.headers['www-authenticate']), /^Basic realm=/);
    const wrong = await h.app.inject({ method: 'GET', url: burl, headers: { authorization: `Basic ${Buffer.from('dl:nope').toString('base64')}` } });
    assert.equal(wrong.statusCode, 401);
    const ok = await h.app.inject({ method: 'GET', url: burl, headers: { authorization: `Basic ${Buffer.from('dl:s3cret').toString('base64')}` } });
    assert.equal(ok.body, '<gs_provision/>');

    // Digest
    const dig = await h.call('POST', `/api/files?name=d.xml&fileType=${encodeURIComponent(CFG)}&authScheme=digest&username=dl&password=d1g`, bin('<digest/>'));
    const durl = `/files/${dig.json().id}/d.xml`;
    const challenge = await h.app.inject({ method: 'GET', url: durl });
    assert.equal(challenge.statusCode, 401);
    const ch = parseAuthenticate(String(challenge.headers['www-authenticate']))[0] as DigestChallenge;
    assert.equal(ch.scheme, 'Digest');
    const authz = (password: string) => buildDigestAuthorization({ challenge: ch, username: 'dl', password, method: 'GET', uri: durl, nc: 1, cnonce: 'abcdef0123456789' });
    assert.equal((await h.app.inject({ method: 'GET', url: durl, headers: { authorization: authz('bad') } })).statusCode, 401);
    const good = await h.app.inject({ method: 'GET', url: durl, headers: { authorization: authz('d1g') } });
    assert.equal(good.statusCode, 200);
    assert.equal(good.body, '<digest/>');
  });

  it('runs dry runs from what the ACS knows, with stored or unsaved presets', async () => {
    await h.call('POST', '/api/variables/import', csv(ACCOUNTS_CSV));
    const dry = await h.call('GET', `/api/devices/${deviceId}/provisioning/dry-run`, { token: h.tokens.viewer });
    assert.equal(dry.statusCode, 200, dry.body);
    const r = dry.json();
    assert.deepEqual(r.presets.map((p: { name: string; applies: boolean }) => [p.name, p.applies]), [['voice', true]]);
    assert.deepEqual(r.changes.set.map((c: { name: string; from: string; to: string }) => [c.name, c.from, c.to]), [[`${MS}PeriodicInformInterval`, '300', '600']]);
    assert.ok(r.changes.read.includes(`${MS}PeriodicInformEnable`));
    assert.deepEqual(r.changes.discover, ['Device.Services.VoiceService.1.VoiceProfile.']);
    const boot = await h.call('GET', `/api/devices/${deviceId}/provisioning/dry-run?event=boot`);
    assert.equal(boot.json().presets[0].applies, true);
    const unsaved = await h.call('POST', `/api/devices/${deviceId}/provisioning/dry-run`, {
      token: h.tokens.operator,
      body: { events: ['periodic'], presets: [{ name: 'only-on-boot', triggers: ['boot'], desired: { parameters: [{ name: `${MS}PeriodicInformInterval`, value: 60 }] } }, { name: 'now', desired: { parameters: [{ name: `${MS}PeriodicInformInterval`, value: 120 }], tags: { add: ['lab'] } } }] },
    });
    assert.equal(unsaved.statusCode, 200, unsaved.body);
    assert.deepEqual(unsaved.json().presets.map((p: { applies: boolean }) => p.applies), [false, true]);
    assert.deepEqual(unsaved.json().changes.set.map((c: { to: string }) => c.to), ['120']);
    assert.deepEqual(unsaved.json().changes.tags, { add: ['lab'], remove: [] });
    const mem = await h.call('GET', `/api/devices/${deviceId}/provisioning`);
    assert.deepEqual(mem.json(), { entries: [] });
    assert.deepEqual((await h.call('DELETE', `/api/devices/${deviceId}/provisioning/refusals`)).json(), { forgotten: 0 });
    assert.deepEqual((await h.call('GET', `/api/devices/${deviceId}/history`)).json(), { entries: [], nextCursor: null });
  });

  it('queues a Download of a library file with URL, size, name and credentials filled in', async () => {
    const res = await h.call('POST', `/api/devices/${deviceId}/download`, { token: h.tokens.operator, body: { fileId, delaySeconds: 5 } });
    assert.equal(res.statusCode, 201, res.body);
    const p = res.json().task.payload;
    assert.deepEqual(
      [p.type, p.fileType, p.fileSize, p.targetFileName, p.delaySeconds],
      ['download', FW, 14, 'ht502fw.bin', 5],
    );
    assert.match(p.url, new RegExp(`/files/${fileId}/ht502fw.bin$`));
    const task = await h.store.getTask(res.json().task.id);
    assert.equal(task?.status, 'pending');
    assert.equal((await h.call('POST', '/api/devices/000B82-X-404/download', { body: { fileId } })).statusCode, 404);
  });

  it('manages bootstrap records (secrets hidden), CSV imports and the unknown-device policy', async () => {
    const put = await h.call('PUT', '/api/bootstrap/00:0B:82:12:34:56', { body: { acsUrl: 'https://other.example/acs', acsUsername: 'u', acsPassword: 'p', tags: ['t1'], variables: { display: 'Lobby' } } });
    assert.equal(put.statusCode, 201);
    assert.equal(put.json().key, '000B82123456');
    assert.equal(put.json().acsPasswordSet, true);
    assert.equal(put.json().acsPassword, undefined);
    assert.equal((await h.call('PUT', '/api/bootstrap/000B82123456', { body: { acsUsername: 'u2', acsPassword: 'p2' } })).statusCode, 200);
    assert.equal((await h.call('GET', '/api/bootstrap/000B82123456?includeSecrets=true')).json().acsPassword, 'p2');
    const imp = await h.call('POST', '/api/bootstrap/import', csv('serial,acsUsername,acsPassword,tags,display\n000B82123456,a,b,x|y,Desk\nSN-1,,,,\n'));
    assert.deepEqual(imp.json(), { created: 1, replaced: 1 });
    const rec = (await h.call('GET', '/api/bootstrap/000B82123456')).json();
    assert.deepEqual([rec.acsUsername, rec.tags, rec.variables, rec.revision], ['a', ['x', 'y'], { display: 'Desk' }, 3]);
    assert.equal((await h.call('GET', '/api/bootstrap')).json().records.length, 2);
    assert.equal((await h.call('DELETE', '/api/bootstrap/SN-1')).statusCode, 204);
    assert.deepEqual((await h.call('GET', '/api/bootstrap-policy', { token: h.tokens.viewer })).json(), { unknownDevices: 'accept' });
    assert.deepEqual((await h.call('PUT', '/api/bootstrap-policy', { body: { unknownDevices: 'quarantine' } })).json(), { unknownDevices: 'quarantine' });
    assert.equal(await h.service.unknownDevicePolicy(), 'quarantine');
    assert.equal((await h.call('PUT', '/api/bootstrap-policy', { token: h.tokens.operator, body: { unknownDevices: 'accept' } })).statusCode, 403);
  });

  it('creates rollouts and pauses, resumes and cancels them (409 on a wrong state)', async () => {
    const create = await h.call('POST', '/api/rollouts', {
      token: h.tokens.operator,
      body: { name: 'ht502 1.0.10.0', fileId, target: { productClass: ['HT502'] }, stages: [{ name: 'canary', count: 1 }], maxConcurrent: 1, failureThreshold: { count: 1 }, kick: false },
    });
    assert.equal(create.statusCode, 201, create.body);
    const r = create.json();
    assert.equal(r.total, 2);
    assert.deepEqual(r.stages.map((s: { name: string | null; size: number }) => [s.name, s.size]), [['canary', 1], ['rest', 1]]);
    const id = r.rollout.id;
    assert.equal((await h.call('POST', `/api/rollouts/${id}/resume`)).statusCode, 409);
    const paused = await h.call('POST', `/api/rollouts/${id}/pause`, { body: { reason: 'lunch' } });
    assert.deepEqual([paused.json().rollout.state, paused.json().rollout.reason], ['paused', 'lunch']);
    assert.equal((await h.call('POST', `/api/rollouts/${id}/resume`)).json().rollout.state, 'running');
    const cancelled = await h.call('POST', `/api/rollouts/${id}/cancel`);
    assert.equal(cancelled.json().rollout.state, 'cancelled');
    assert.equal(cancelled.json().counts.skipped, 2);
    const conflict = await h.call('POST', `/api/rollouts/${id}/cancel`);
    assert.equal(conflict.statusCode, 409);
    assert.equal(conflict.json().code, 'ROLLOUT_STATE');
    const devices = await h.call('GET', `/api/rollouts/${id}/devices?state=skipped`);
    assert.equal(devices.json().devices.length, 2);
    assert.match(devices.json().devices[0].detail, /rollout cancelled/);
    assert.equal((await h.call('GET', '/api/rollouts?state=cancelled')).json().rollouts.length, 1);
  });

  it('manages webhooks without showing their secret, and queues test deliveries', async () => {
    const got = await h.call('GET', `/api/webhooks/${webhookId}`);
    assert.equal(got.json().secretSet, true);
    assert.equal(got.json().secret, undefined);
    const put = await h.call('PUT', `/api/webhooks/${webhookId}`, { body: { name: 'w2', url: 'http://127.0.0.1:1/y', secret: 'another-secret-16', events: ['*'], enabled: false } });
    assert.equal(put.json().enabled, false);
    const test = await h.call('POST', `/api/webhooks/${webhookId}/test`);
    assert.equal(test.statusCode, 202);
    assert.equal(test.json().event, 'ping');
    const log = await h.call('GET', `/api/webhooks/${webhookId}/deliveries`);
    assert.equal(log.json().deliveries.length, 1);
    assert.ok(!JSON.stringify((await h.store.listAudit({ action: 'webhook.update' })).entries).includes('another-secret-16'));
    assert.equal((await h.call('DELETE', `/api/webhooks/${webhookId}`)).statusCode, 204);
    assert.equal((await h.call('GET', `/api/webhooks/${webhookId}/deliveries`)).statusCode, 404);
  });
});
