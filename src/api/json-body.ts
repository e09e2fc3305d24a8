/**
 * The JSON body parser of the API: like Fastify's default (prototype-poisoning keys refused), but
 * its errors keep the parser's reason ("Unexpected token } in JSON at position 12"), which
 * Fastify's default replaces with a generic sentence.
 */
import type { FastifyInstance } from 'fastify';
import { apiError } from './errors.ts';

/** Keys that could rewrite an object's prototype when a body is later merged into another object. */
function refusePoisoning(key: string, value: unknown): unknown {
  if (key === '__proto__') throw new SyntaxError('the key "__proto__" is not allowed');
  if (key === 'constructor' && typeof value === 'object' && value !== null && Object.hasOwn(value, 'prototype')) {
    throw new SyntaxError('the key "constructor.prototype" is not allowed');
  }
  return value;
}

/**
 * Parses a JSON body. An empty body counts as no body (`undefined`): clients often send
 * `Content-Type: application/json` on a DELETE without a body; routes that need a body then fail
 * their schema check with a message naming the body.
 * @returns the parsed value, or undefined for an empty body.
 * @throws ApiError MALFORMED_JSON with the reason.
 */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text, refusePoisoning);
  } catch (err) {
    throw apiError('MALFORMED_JSON', { reason: err instanceof Error ? err.message.replace(/\.$/, '') : String(err) });
  }
}

/** Replaces the JSON parser of an encapsulated instance (the console keeps Fastify's default). */
export function registerJsonBodyParser(api: FastifyInstance): void {
  api.removeContentTypeParser('application/json');
  api.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}
