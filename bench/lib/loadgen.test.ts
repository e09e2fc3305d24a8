import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildEnvelope, parseEnvelope } from '../../src/cwmp/index.ts';
import type { CwmpMessage, GetParameterValuesResponse, ParameterValueStruct } from '../../src/cwmp/types.ts';
import { LoadGenerator, ResponseTemplates } from './loadgen.ts';
import { sipAccountValues } from './sip-accounts.ts';

const MODEL = 'HT502';

describe('ResponseTemplates', () => {
  test('gives the codec output for fixed responses, IDs needing escapes, no header and other methods', () => {
    const t = new ResponseTemplates();
    const answers: CwmpMessage[] = [
      { method: 'SetParameterValuesResponse', status: 0 },
      { method: 'SetParameterValuesResponse', status: 1 },
      { method: 'DeleteObjectResponse', status: 0 },
      { method: 'RebootResponse' },
      { method: 'AddObjectResponse', instanceNumber: 3, status: 0 },
      { method: 'GetParameterValuesResponse', parameterList: [{ name: 'Device.X', value: 'a<b', type: 'string' }] },
    ];
    for (const answer of answers) {
      for (const id of ['sb-1', 'sb-2', 'a&b<c>', undefined]) {
        for (const version of ['1.0', '1.2'] as const) {
          const expected = buildEnvelope({ header: id === undefined ? {} : { id }, body: answer }, { version });
          // twice: the first builds the template, the second fills it
          assert.equal(t.build(answer, id, version), expected, `${answer.method} ${id} ${version}`);
          assert.equal(t.build(answer, id, version), expected, `${answer.method} ${id} ${version} (again)`);
        }
      }
    }
  });
});

/** A scripted ACS: InformResponse, then SetParameterValues of the device's SIP account, then GetParameterValues, then 204. */
async function scriptedAcs(options: { closeAfterInform: boolean; id: (n: number) => string }) {
  const seen = { informs: 0, spvResponses: 0, gpvChecked: 0, errors: [] as string[] };
  const sessions = new Map<string, { serial: string; step: number }>();
  let nextCookie = 0;
  let nextId = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const reply = (msg: CwmpMessage | null, close = false): void => {
        const headers: Record<string, string> = {};
        if (close) headers.connection = 'close';
        const sid = /sid=([0-9]+)/.exec(req.headers.cookie ?? '')?.[1];
        if (!sid) headers['set-cookie'] = `sid=${++nextCookie}; Path=/`;
        if (msg === null) {
          res.writeHead(204, headers).end();
          return;
        }
        const xml = buildEnvelope({ header: { id: options.id(++nextId) }, body: msg }, { version: '1.2' });
        res.writeHead(200, { ...headers, 'content-type': 'text/xml', 'content-length': String(Buffer.byteLength(xml)) }).end(xml);
      };
      try {
        const cookie = /sid=([0-9]+)/.exec(req.headers.cookie ?? '')?.[1];
        if (body.length > 0 && !cookie) {
          const env = parseEnvelope(body);
          assert.equal(env.body?.method, 'Inform');
          const serial = env.body.method === 'Inform' ? env.body.deviceId.serialNumber : '';
          seen.informs++;
          sessions.set(String(nextCookie + 1), { serial, step: 0 });
          reply({ method: 'InformResponse', maxEnvelopes: 1 }, options.closeAfterInform);
          return;
        }
        const s = sessions.get(cookie ?? '');
        if (!s) throw new Error(`unknown session ${cookie}`);
        if (s.step === 0) {
          assert.equal(body.length, 0, 'the empty POST');
          s.step = 1;
          reply({ method: 'SetParameterValues', parameterList: sipAccountValues(s.serial), parameterKey: 'k1' });
        } else if (s.step === 1) {
          const env = parseEnvelope(body);
          assert.deepEqual(env.body, { method: 'SetParameterValuesResponse', status: 0 });
          seen.spvResponses++;
          s.step = 2;
          reply({ method: 'GetParameterValues', parameterNames: sipAccountValues(s.serial).map((p) => p.name) });
        } else {
          const env = parseEnvelope(body);
          const list = (env.body as GetParameterValuesResponse).parameterList;
          const expected: ParameterValueStruct[] = sipAccountValues(s.serial).map((p) => ({ ...p, value: p.name.endsWith('AuthPassword') ? '' : p.value }));
          assert.deepEqual(list, expected);
          seen.gpvChecked++;
          reply(null);
        }
      } catch (err) {
        seen.errors.push(String(err));
        res.writeHead(500).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/cwmp`,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('LoadGenerator (lean client)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups) await c();
  });

  for (const variant of [
    { name: 'keep-alive, plain IDs (templates)', closeAfterInform: false, id: (n: number) => `acs-${n}` },
    { name: 'Connection: close after the Inform, IDs that need escaping (codec)', closeAfterInform: true, id: (n: number) => `a&b-${n}` },
  ]) {
    test(`boot storm: every device applies and answers through its data model (${variant.name})`, async () => {
      const acs = await scriptedAcs(variant);
      cleanups.push(acs.close);
      const devices = 6;
      const gen = new LoadGenerator({ count: devices, models: [MODEL] });
      cleanups.push(async () => gen.close());
      const before = gen.verify(sipAccountValues);
      assert.equal(before.matching, 0);
      const r = await gen.run({ url: acs.url, devices: { count: devices, models: [MODEL] }, event: 'bootstrap', concurrency: 3, plan: { kind: 'each-once' } });
      assert.deepEqual(acs.seen.errors, []);
      assert.equal(r.ok, devices, JSON.stringify(r.failures));
      assert.equal(r.acsRequests, 2 * devices);
      assert.equal(acs.seen.informs, devices);
      assert.equal(acs.seen.spvResponses, devices);
      assert.equal(acs.seen.gpvChecked, devices);
      const after = gen.verify(sipAccountValues);
      assert.equal(after.matching, devices, after.examples.join('; '));
    });
  }

  test('a server that answers the Inform with an error is a failed session, not a crash', async () => {
    const server = http.createServer((_req, res) => res.writeHead(503, { 'content-length': '0' }).end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const gen = new LoadGenerator({ count: 2, models: [MODEL] });
    cleanups.push(async () => gen.close());
    const r = await gen.run({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, devices: { count: 2, models: [MODEL] }, event: 'periodic', concurrency: 2, plan: { kind: 'each-once' } });
    assert.equal(r.failed, 2);
    assert.deepEqual(Object.keys(r.failures), ['ACS answered the Inform with HTTP N']);
  });
});
