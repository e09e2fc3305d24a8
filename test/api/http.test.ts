import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { buildApi } from '../../src/api/index.ts';
import { StoreError, type Store } from '../../src/store/types.ts';
import { FakeAcs, makeToken, setup } from './helpers.ts';

describe('HTTP behaviour of the API', () => {
  it('sets security headers on API answers (errors included) and no CORS headers by default', async () => {
    const h = await setup();
    try {
      for (const [url, token] of [['/api/devices', h.tokens.viewer], ['/api/devices', null], ['/api/health', null]] as const) {
        const res = await h.call('GET', url, { token, headers: { origin: 'https://evil.example' } });
        assert.equal(res.headers['x-content-type-options'], 'nosniff', url);
        assert.equal(res.headers['x-frame-options'], 'DENY');
        assert.equal(res.headers['referrer-policy'], 'no-referrer');
        assert.equal(res.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'");
        assert.equal(res.headers['cache-control'], 'no-store');
        assert.equal(res.headers['access-control-allow-origin'], undefined);
      }
      const preflight = await h.app.inject({ method: 'OPTIONS', url: '/api/devices', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
      assert.equal(preflight.headers['access-control-allow-origin'], undefined);
      assert.notEqual(preflight.statusCode, 204);
    } finally {
      await h.close();
    }
  });

  it('allows CORS only for the configured origins', async () => {
    const h = await setup({ cors: { origins: ['https://console.example.net'] } });
    try {
      const ok = await h.app.inject({
        method: 'OPTIONS',
        url: '/api/devices',
        headers: { origin: 'https://console.example.net', 'access-control-request-method': 'POST' },
      });
      assert.equal(ok.statusCode, 204);
      assert.equal(ok.headers['access-control-allow-origin'], 'https://console.example.net');
      assert.match(String(ok.headers['access-control-allow-headers']), /authorization/);
      const get = await h.call('GET', '/api/devices', { headers: { origin: 'https://console.example.net' } });
      assert.equal(get.headers['access-control-allow-origin'], 'https://console.example.net');
      const other = await h.call('GET', '/api/devices', { headers: { origin: 'https://evil.example' } });
      assert.equal(other.headers['access-control-allow-origin'], undefined);
    } finally {
      await h.close();
    }
  });

  it('leaves / to the web console: routes added at the root work and are not behind API auth', async () => {
    const h = await setup();
    try {
      h.app.get('/', async () => 'console');
      const res = await h.app.inject({ method: 'GET', url: '/' });
      assert.equal(res.statusCode, 200);
      assert.equal(res.body, 'console');
      assert.equal(res.headers['x-frame-options'], 'DENY');
      assert.equal(res.headers['content-security-policy'], undefined, 'the console sets its own CSP');
    } finally {
      await h.close();
    }
  });

  it('accepts a DELETE with a JSON content type and an empty body', async () => {
    const h = await setup();
    try {
      const created = (await h.call('POST', '/api/tokens', { body: { name: 'gone', role: 'viewer' } })).json();
      const res = await h.call('DELETE', `/api/tokens/${created.token.id}`, { payload: '', headers: { 'content-type': 'application/json' } });
      assert.equal(res.statusCode, 200, res.body);
      const noBody = await h.call('POST', '/api/tokens', { payload: '', headers: { 'content-type': 'application/json' } });
      assert.equal(noBody.statusCode, 400);
      assert.equal(noBody.json().code, 'VALIDATION_FAILED');
      assert.match(noBody.json().message, /whole body/);
    } finally {
      await h.close();
    }
  });

  it('answers 400 BAD_REQUEST for a URL with broken percent-encoding', async () => {
    const h = await setup();
    try {
      const res = await h.call('GET', '/api/devices/%E0%A4%A');
      assert.equal(res.statusCode, 400);
      assert.equal(res.json().code, 'BAD_REQUEST');
    } finally {
      await h.close();
    }
  });

  it('answers 500 INTERNAL_ERROR without details for a bug, logs it, and 503 when the store is unavailable', async () => {
    const h = await setup();
    const lines: string[] = [];
    const logger = pino({ level: 'error' }, new Writable({ write: (chunk, _enc, cb) => (lines.push(String(chunk)), cb()) }));
    const broken = new Proxy(h.store, {
      get(target, prop, receiver) {
        if (prop === 'queryDevices') return async () => Promise.reject(new Error('disk on fire at /var/lib/secret/path'));
        if (prop === 'listFaults') return async () => Promise.reject(new StoreError('unavailable', 'closed'));
        return Reflect.get(target, prop, receiver);
      },
    }) as Store;
    const app = await buildApi({ store: broken, acs: new FakeAcs(broken), logger });
    try {
      const token = (await makeToken(h.store, 'x500', 'viewer')).secret;
      const res = await app.inject({ method: 'GET', url: '/api/devices', headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.statusCode, 500);
      assert.equal(res.json().code, 'INTERNAL_ERROR');
      assert.ok(!res.body.includes('disk on fire'));
      assert.match(res.json().message, /request req-/);
      assert.ok(lines.some((l) => l.includes('disk on fire')), 'the error is logged');
      const unavailable = await app.inject({ method: 'GET', url: '/api/faults', headers: { authorization: `Bearer ${token}` } });
      assert.equal(unavailable.statusCode, 503);
      assert.equal(unavailable.json().code, 'STORE_UNAVAILABLE');
    } finally {
      await app.close();
      await h.close();
    }
  });

  it('never logs the bearer token', async () => {
    const h = await setup();
    const lines: string[] = [];
    const logger = pino({ level: 'trace' }, new Writable({ write: (chunk, _enc, cb) => (lines.push(String(chunk)), cb()) }));
    const app = await buildApi({ store: h.store, acs: h.acs, logger });
    try {
      await app.inject({ method: 'GET', url: '/api/devices', headers: { authorization: `Bearer ${h.tokens.admin}` } });
      await app.inject({ method: 'GET', url: '/api/devices', headers: { authorization: 'Bearer sb_wrong-token' } });
      assert.ok(lines.length > 0, 'requests are logged');
      const text = lines.join('');
      assert.ok(!text.includes(h.tokens.admin) && !text.includes('sb_wrong-token'));
    } finally {
      await app.close();
      await h.close();
    }
  });
});
