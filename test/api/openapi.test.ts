import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { API_ERRORS, API_ERROR_CODES } from '../../src/api/errors.ts';
import { setup, type Harness } from './helpers.ts';

type Json = Record<string, unknown>;
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** Collects every `$ref` string in a document. */
function refs(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => refs(v, out));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

/** Resolves a local JSON pointer (`#/components/schemas/Error`). */
function resolvePointer(doc: Json, ref: string): unknown {
  assert.ok(ref.startsWith('#/'), `only local refs are expected, got ${ref}`);
  return ref
    .slice(2)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Json)[key] : undefined), doc);
}

describe('the OpenAPI document at /api/openapi.json', () => {
  let h: Harness;
  let doc: Json;
  before(async () => {
    h = await setup();
    const res = await h.call('GET', '/api/openapi.json', { token: null });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /application\/json/);
    doc = res.json();
  });
  after(() => h.close());

  it('has the OpenAPI 3 top-level structure', () => {
    assert.match(String(doc.openapi), /^3\.1\.\d+$/);
    const info = doc.info as Json;
    assert.equal(typeof info.title, 'string');
    assert.equal(typeof info.version, 'string');
    assert.equal(typeof doc.paths, 'object');
    const components = doc.components as Json;
    const schemes = components.securitySchemes as Record<string, Json>;
    assert.deepEqual(Object.values(schemes).map((s) => [s.type, s.scheme]), [['http', 'bearer']]);
    for (const requirement of doc.security as Json[]) {
      for (const name of Object.keys(requirement)) assert.ok(name in schemes, `security names unknown scheme ${name}`);
    }
    for (const key of Object.keys(doc)) {
      assert.ok(['openapi', 'info', 'paths', 'components', 'security', 'tags', 'servers', 'externalDocs', 'webhooks', 'jsonSchemaDialect'].includes(key), `unexpected top-level key ${key}`);
    }
  });

  it('has well-formed operations: responses with descriptions, declared path parameters, resolvable refs', () => {
    const paths = doc.paths as Record<string, Json>;
    for (const [path, item] of Object.entries(paths)) {
      assert.ok(path.startsWith('/api/'), path);
      assert.ok(!path.includes(':'), `${path} still uses Fastify syntax`);
      const placeholders = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      for (const method of Object.keys(item).filter((k) => HTTP_METHODS.includes(k))) {
        const op = item[method] as Json;
        const where = `${method.toUpperCase()} ${path}`;
        const responses = op.responses as Record<string, Json>;
        assert.ok(responses && Object.keys(responses).length > 0, `${where} has no responses`);
        assert.ok(Object.keys(responses).some((s) => /^2\d\d$/.test(s)), `${where} has no success response`);
        for (const [status, response] of Object.entries(responses)) {
          assert.match(status, /^([1-5]\d\d|default)$/, where);
          assert.equal(typeof response.description, 'string', `${where} ${status} has no description`);
          assert.notEqual(response.description, 'Default Response', `${where} ${status} has no description of its own`);
          if (Number(status) >= 400) {
            const schema = ((response.content as Json)['application/json'] as Json).schema as Json;
            const codes = ((schema.properties as Json).code as Json).enum as string[];
            assert.ok(codes.length > 0, `${where} ${status} lists no code`);
            for (const code of codes) assert.equal(API_ERRORS[code as keyof typeof API_ERRORS].status, Number(status), `${where} ${status} lists ${code}`);
          }
        }
        const params = (op.parameters ?? []) as Json[];
        for (const p of params) {
          assert.ok(['path', 'query', 'header', 'cookie'].includes(String(p.in)), `${where} parameter ${String(p.name)} in ${String(p.in)}`);
          assert.equal(typeof p.name, 'string');
          if (p.in === 'path') assert.equal(p.required, true, `${where} path parameter ${String(p.name)} must be required`);
        }
        const pathParams = params.filter((p) => p.in === 'path').map((p) => String(p.name)).sort();
        assert.deepEqual(pathParams, placeholders, `${where} path parameters`);
        const names = params.map((p) => `${String(p.in)}:${String(p.name)}`);
        assert.equal(new Set(names).size, names.length, `${where} repeats a parameter`);
        if (['post', 'put', 'patch'].includes(method) && op.requestBody) {
          const content = (op.requestBody as Json).content as Json;
          assert.ok('application/json' in content, `${where} body is not JSON`);
        }
      }
    }
    for (const ref of refs(doc)) assert.notEqual(resolvePointer(doc, ref), undefined, `unresolved $ref ${ref}`);
  });

  it('lists every registered API route, and nothing else', () => {
    const documented = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
      for (const method of Object.keys(item).filter((k) => HTTP_METHODS.includes(k))) documented.add(`${method.toUpperCase()} ${path}`);
    }
    const registered = new Set(h.app.apiRoutes.map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`));
    assert.ok(registered.size >= 20);
    assert.deepEqual([...documented].sort(), [...registered].sort());
  });

  it('marks query parameters with defaults as optional', () => {
    const op = (doc.paths as Record<string, Json>)['/api/devices'].get as Json;
    const params = Object.fromEntries((op.parameters as Json[]).map((p) => [p.name, p.required]));
    assert.equal(params.limit, false);
    assert.equal(params.sort, false);
    assert.equal(params.q, false);
  });

  it('documents the routes of the issue', () => {
    const paths = Object.keys(doc.paths as Json);
    for (const p of [
      '/api/devices',
      '/api/devices/{id}',
      '/api/devices/{id}/parameters',
      '/api/devices/{id}/tags/{tag}',
      '/api/devices/{id}/tasks',
      '/api/devices/{id}/events',
      '/api/tasks/{id}',
      '/api/faults',
      '/api/tokens',
      '/api/tokens/{id}',
      '/api/audit',
      '/api/health',
      '/api/openapi.json',
    ]) {
      assert.ok(paths.includes(p), `${p} is missing`);
    }
  });

  it('documents the task body as the union of the task schemas', () => {
    const op = (doc.paths as Record<string, Json>)['/api/devices/{id}/tasks'].post as Json;
    const schema = (((op.requestBody as Json).content as Json)['application/json'] as Json).schema as Json;
    const branches = (schema.anyOf ?? schema.oneOf) as Json[];
    // @fastify/swagger rewrites `const` as a one-value `enum`.
    const types = branches.map((b) => {
      const type = (b.properties as Json).type as Json;
      return type.const ?? (type.enum as unknown[])[0];
    });
    for (const t of ['getParameterValues', 'setParameterValues', 'reboot', 'download', 'refresh']) assert.ok(types.includes(t), t);
    assert.deepEqual(Object.keys(op.responses as Json).sort(), ['200', '202', '400', '401', '403', '404']);
  });

  it('documents every error code in components, with its status', () => {
    const schemas = (doc.components as Json).schemas as Record<string, Json>;
    const codeSchema = schemas.ErrorCode;
    const listed = codeSchema.enum as string[];
    assert.deepEqual([...listed].sort(), [...API_ERROR_CODES].sort());
    for (const code of API_ERROR_CODES) {
      assert.ok(String(codeSchema.description).includes(`${code} (${API_ERRORS[code].status})`), code);
    }
    assert.deepEqual(Object.keys((schemas.Error.properties as Json)).sort(), ['code', 'details', 'message']);
  });

  it('src/api/README.md lists every error code with its status, and no unknown code', () => {
    const readme = readFileSync(new URL('../../src/api/README.md', import.meta.url), 'utf8');
    const rows = [...readme.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])] as const);
    assert.deepEqual(
      rows.map(([c]) => c).sort(),
      [...API_ERROR_CODES].sort(),
    );
    for (const [code, status] of rows) assert.equal(status, API_ERRORS[code as keyof typeof API_ERRORS].status, code);
  });
});
