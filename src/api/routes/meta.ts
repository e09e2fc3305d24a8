/**
 * Routes about the API itself: health check, the OpenAPI document, and the caller's own token.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.ts';
import { apiError } from '../errors.ts';
import { errorResponses, TokenSchema, described } from '../schemas.ts';

export function registerMetaRoutes(api: FastifyInstance, ctx: ApiContext): void {
  api.get(
    '/health',
    {
      config: { access: 'public' },
      schema: {
        tags: ['meta'],
        summary: 'Liveness check (no token needed)',
        security: [],
        response: { 200: described(Type.Object({ status: Type.Literal('ok'), activeSessions: Type.Integer() }), 'the ACS is up') },
      },
    },
    async () => ({ status: 'ok' as const, activeSessions: ctx.acs.activeSessions() }),
  );

  api.get(
    '/openapi.json',
    {
      config: { access: 'public' },
      schema: {
        tags: ['meta'],
        summary: 'This OpenAPI 3.1 document (no token needed)',
        security: [],
        response: { 200: Type.Object({}, { additionalProperties: true, description: 'OpenAPI 3.1 document' }) },
      },
    },
    async (_request, reply) => reply.type('application/json').send(JSON.stringify(api.swagger())),
  );

  api.get(
    '/me',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['tokens'],
        summary: 'The token that authenticated this request (name, role)',
        response: { 200: described(TokenSchema, 'the calling token'), ...errorResponses(401) },
      },
    },
    async (request) => {
      const principal = request.principal!;
      const token = (await ctx.store.listApiTokens()).find((t) => t.id === principal.tokenId);
      if (!token) throw apiError('INVALID_TOKEN');
      return token;
    },
  );
}
