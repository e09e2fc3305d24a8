/**
 * Enumerates the API's operations from its OpenAPI document, so that the auth tests cover every
 * route, including routes added later.
 */
import type { Harness } from './helpers.ts';

export interface Operation {
  method: string;
  /** OpenAPI path, e.g. `/api/devices/{id}`. */
  path: string;
  /** True when the operation declares `security: []` (no token needed). */
  isPublic: boolean;
  /** A concrete URL with placeholder values for the path parameters. */
  sampleUrl: string;
}

interface OpenApiDoc {
  paths: Record<string, Record<string, { security?: unknown[] }>>;
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

/** Reads every operation of the served document. */
export async function operations(h: Harness): Promise<Operation[]> {
  const doc = (await h.call('GET', '/api/openapi.json', { token: null })).json() as OpenApiDoc;
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      out.push({
        method: method.toUpperCase(),
        path,
        isPublic: Array.isArray(op.security) && op.security.length === 0,
        sampleUrl: path.replace(/\{(\w+)\}/g, (_m, name: string) => (name === 'tag' ? 'lab' : '000B82-HT502-NOPE')),
      });
    }
  }
  return out;
}

/** Methods that write. */
export const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
