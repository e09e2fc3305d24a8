/**
 * Unit tests of the CPE agent's building blocks: scheduler, retry back-off, event retention,
 * cookie jar, atomic persistence, firmware images, rate limiting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { FakeScheduler } from '../../src/cpe/scheduler.ts';
import { retryDelayMs, retryRange, seededRandom } from '../../src/cpe/retry.ts';
import { EventCode, EventQueue } from '../../src/cpe/event-queue.ts';
import { CookieJar } from '../../src/cpe/cookies.ts';
import { FileStateStore, writeFileAtomic } from '../../src/cpe/persistence.ts';
import { buildFirmwareImage, FirmwareError, verifyFirmwareImage } from '../../src/cpe/firmware.ts';
import { TokenBucket } from '../../src/cpe/rate-limit.ts';

test('FakeScheduler runs tasks in time order and only when the clock reaches them', () => {
  const s = new FakeScheduler(1000);
  const ran: string[] = [];
  s.at(3000, () => ran.push('c'));
  s.at(2000, () => ran.push('b'));
  const h = s.at(2500, () => ran.push('x'));
  s.at(2000, () => ran.push('b2'));
  h.cancel();
  assert.equal(s.advance(500), 0);
  assert.deepEqual(ran, []);
  s.advance(1000);
  assert.deepEqual(ran, ['b', 'b2']);
  assert.equal(s.now(), 2500);
  s.advance(10_000);
  assert.deepEqual(ran, ['b', 'b2', 'c']);
  assert.equal(s.size(), 0);
});

test('FakeScheduler: a task scheduled by a task during advance() runs if it falls in the window', () => {
  const s = new FakeScheduler(0);
  const times: number[] = [];
  const tick = (): void => {
    times.push(s.now());
    if (times.length < 5) s.after(100, tick);
  };
  s.after(100, tick);
  s.advance(350);
  assert.deepEqual(times, [100, 200, 300]);
});

test('retryRange follows the TR-069 table with defaults and caps at the 10th retry', () => {
  assert.deepEqual(retryRange(1), { minSeconds: 5, maxSeconds: 10 });
  assert.deepEqual(retryRange(2), { minSeconds: 10, maxSeconds: 20 });
  assert.deepEqual(retryRange(10), { minSeconds: 2560, maxSeconds: 5120 });
  assert.deepEqual(retryRange(25), { minSeconds: 2560, maxSeconds: 5120 });
  assert.deepEqual(retryRange(3, { minWaitSeconds: 10, multiplier: 3000 }), { minSeconds: 90, maxSeconds: 270 });
  assert.equal(retryDelayMs(1, {}, () => 0), 5000);
  assert.equal(retryDelayMs(1, {}, () => 0.5), 7500);
  const r = seededRandom(42);
  for (let n = 1; n < 14; n++) {
    const d = retryDelayMs(n, {}, r);
    const { minSeconds, maxSeconds } = retryRange(n);
    assert.ok(d >= minSeconds * 1000 && d <= maxSeconds * 1000, `retry ${n}: ${d}`);
  }
});

test('EventQueue keeps single codes once and M codes once per CommandKey', () => {
  const q = new EventQueue();
  q.add(EventCode.Boot);
  q.add(EventCode.Boot);
  q.add(EventCode.MReboot, 'k1');
  q.add(EventCode.MReboot, 'k1');
  q.add(EventCode.MReboot, 'k2');
  q.add(EventCode.Periodic, 'ignored');
  assert.deepEqual(q.list(), [
    { eventCode: '1 BOOT', commandKey: '' },
    { eventCode: 'M Reboot', commandKey: 'k1' },
    { eventCode: 'M Reboot', commandKey: 'k2' },
    { eventCode: '2 PERIODIC', commandKey: '' },
  ]);
});

test('EventQueue: a failed session keeps everything except 6 CONNECTION REQUEST', () => {
  const q = new EventQueue();
  q.add(EventCode.Periodic);
  q.add(EventCode.ConnectionRequest);
  q.add(EventCode.ValueChange);
  q.sessionFailed();
  assert.deepEqual(q.list().map((e) => e.eventCode), ['2 PERIODIC', '4 VALUE CHANGE']);
});

test('EventQueue: InformResponse delivers sent events except transfer ones, TransferCompleteResponse the rest', () => {
  const q = new EventQueue();
  q.add(EventCode.Boot);
  q.add(EventCode.TransferComplete);
  q.add(EventCode.MDownload, 'dl1');
  q.add(EventCode.MDownload, 'dl2');
  q.add(EventCode.RequestDownload);
  const sent = q.forInform();
  q.add(EventCode.Periodic); // raised during the session: not in the Inform, must stay
  q.informDelivered(sent);
  assert.deepEqual(q.list().map((e) => e.eventCode), ['7 TRANSFER COMPLETE', 'M Download', 'M Download', '9 REQUEST DOWNLOAD', '2 PERIODIC']);
  q.transferCompleteDelivered('dl1', 1);
  assert.ok(q.has(EventCode.TransferComplete));
  q.transferCompleteDelivered('dl2', 0);
  q.requestDownloadDelivered();
  assert.deepEqual(q.list().map((e) => e.eventCode), ['2 PERIODIC']);
});

test('EventQueue: reboot drops per-instance events and adds 1 BOOT; bootstrap drops everything but BOOT', () => {
  const q = new EventQueue();
  for (const c of [EventCode.Periodic, EventCode.ValueChange, EventCode.ConnectionRequest, EventCode.Scheduled]) q.add(c);
  q.add(EventCode.MScheduleInform, 'si');
  q.add(EventCode.MReboot, 'rb');
  q.reboot();
  assert.deepEqual(q.list().map((e) => e.eventCode), ['3 SCHEDULED', 'M ScheduleInform', 'M Reboot', '1 BOOT']);
  q.bootstrap();
  assert.deepEqual(q.forInform().map((e) => e.eventCode), ['0 BOOTSTRAP', '1 BOOT']);
});

test('CookieJar keeps several cookies with attributes and honours Path, Max-Age and Secure', () => {
  let now = 1_000_000;
  const jar = new CookieJar(() => now);
  const acs = new URL('http://acs.example.net:7547/acs/cwmp');
  jar.setFromHeaders(acs, ['session=abc; Path=/; HttpOnly', 'route=r1; Path=/acs; Max-Age=10', 'sec=1; Secure', 'bad']);
  assert.equal(jar.headerFor(acs), 'route=r1; session=abc');
  assert.equal(jar.headerFor(new URL('http://acs.example.net:7547/other')), 'session=abc');
  assert.equal(jar.headerFor(new URL('https://acs.example.net/acs/x')), 'route=r1; sec=1; session=abc');
  assert.equal(jar.headerFor(new URL('http://elsewhere.example.net/acs')), undefined);
  now += 11_000;
  assert.equal(jar.headerFor(acs), 'session=abc');
  jar.setCookie(acs, 'session=; Path=/; Max-Age=0');
  assert.equal(jar.headerFor(acs), undefined);
  jar.setCookie(acs, 'x=1; Domain=evil.example.org');
  assert.equal(jar.size(), 1); // sec only; the foreign-domain cookie was refused
});

test('writeFileAtomic replaces the file and leaves no temp files; FileStateStore round-trips', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-cpe-'));
  try {
    const f = join(dir, 'x.json');
    writeFileAtomic(f, 'one');
    writeFileAtomic(f, 'two');
    assert.equal(readFileSync(f, 'utf8'), 'two');
    assert.deepEqual(readdirSync(dir), ['x.json']);
    const store = new FileStateStore<{ a: number }>(join(dir, 'state'));
    assert.equal(store.load(), null);
    store.save({ a: 1 });
    assert.deepEqual(new FileStateStore<{ a: number }>(join(dir, 'state')).load(), { a: 1 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('firmware images verify, and each defect gives its own fault code', () => {
  const img = buildFirmwareImage({ model: 'GXP2140', version: '1.0.11.3', payload: 'firmware bytes' });
  const ok = verifyFirmwareImage(img, { model: 'gxp2140', expectedFileSize: img.length });
  assert.equal(ok.header.version, '1.0.11.3');
  assert.equal(ok.payload.toString(), 'firmware bytes');

  const code = (f: () => unknown): number => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof FirmwareError);
      return e.faultCode;
    }
    assert.fail('expected a FirmwareError');
  };
  assert.equal(code(() => verifyFirmwareImage(img, { model: 'HT502' })), 9010);
  assert.equal(code(() => verifyFirmwareImage(img, { model: 'GXP2140', expectedFileSize: img.length + 1 })), 9017);
  assert.equal(code(() => verifyFirmwareImage(img.subarray(0, img.length - 3), { model: 'GXP2140' })), 9017);
  const flipped = Buffer.from(img);
  flipped[flipped.length - 70] ^= 0xff; // inside the payload
  assert.equal(code(() => verifyFirmwareImage(flipped, { model: 'GXP2140' })), 9018);
  assert.equal(code(() => verifyFirmwareImage(Buffer.from('not an image at all'), { model: 'GXP2140' })), 9018);
  const other = generateKeyPairSync('ed25519').privateKey;
  const foreign = buildFirmwareImage({ model: 'GXP2140', version: '9', key: other });
  assert.equal(code(() => verifyFirmwareImage(foreign, { model: 'GXP2140' })), 9019);
  const badSig = Buffer.from(img);
  badSig[badSig.length - 1] ^= 0x01;
  assert.equal(code(() => verifyFirmwareImage(badSig, { model: 'GXP2140' })), 9019);
  assert.throws(() => buildFirmwareImage({ model: '', version: '1' }), TypeError);
  assert.ok(createPrivateKey);
});

test('TokenBucket allows a burst, then refills over the window', () => {
  const b = new TokenBucket({ burst: 2, windowMs: 1000 }, 0);
  assert.equal(b.take(0), true);
  assert.equal(b.take(0), true);
  assert.equal(b.take(10), false);
  assert.equal(b.take(500), true);
  assert.equal(b.take(510), false);
});
