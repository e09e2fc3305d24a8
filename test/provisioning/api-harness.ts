/**
 * The REST API with the provisioning routes mounted, over real stores in a temp dir, with one
 * token per role and the API's FakeAcs (test/api/helpers.ts).
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApi } from '../../src/api/index.ts';
import type { ApiRole } from '../../src/store/types.ts';
import { FakeAcs, makeToken } from '../api/helpers.ts';
import { makeFixture, type Fixture } from './fixtures.ts';

export interface ApiHarness extends Fixture {
  app: FastifyInstance;
  acs: FakeAcs;
  tokens: Record<ApiRole, string>;
  call(method: string, url: string, options?: { token?: string | null; body?: unknown; payload?: string | Buffer; headers?: Record<string, string> }): Promise<LightMyRequestResponse>;
}

/** Builds the API with provisioning. `listen` starts it on 127.0.0.1:0 and sets the file base URL to it. */
export async function setupApi(options: { listen?: boolean } = {}): Promise<ApiHarness> {
  let base = 'http://127.0.0.1:9';
  const f = makeFixture({ fileBaseUrl: 'http://placeholder' });
  const acs = new FakeAcs(f.store);
  const tokens = {
    admin: (await makeToken(f.store, 'admin', 'admin')).secret,
    operator: (await makeToken(f.store, 'operator', 'operator')).secret,
    viewer: (await makeToken(f.store, 'viewer', 'viewer')).secret,
  };
  const app = await buildApi({ store: f.store, acs, provisioning: { service: f.service } });
  if (options.listen) {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  }
  f.service.setFileBaseUrl(base);
  const close = f.close;
  return {
    ...f,
    app,
    acs,
    tokens,
    call: (method, url, o = {}) => {
      const headers: Record<string, string> = { ...o.headers };
      const token = o.token === undefined ? tokens.admin : o.token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      if (o.body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
      const payload = o.payload !== undefined ? o.payload : o.body !== undefined ? JSON.stringify(o.body) : undefined;
      return app.inject({ method: method as 'GET', url, headers, ...(payload !== undefined ? { payload } : {}) });
    },
    close: async () => {
      await acs.stop();
      await app.close();
      await close();
    },
  };
}
