/**
 * API token routes (admin only): create (the secret is shown once), list (never secrets), revoke.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiToken } from '../../store/types.ts';
import { generateToken, hashToken } from '../auth.ts';
import type { ApiContext } from '../context.ts';
import { apiError } from '../errors.ts';
import { errorResponses, RoleSchema, TokenSchema, described } from '../schemas.ts';

const NewTokenBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._@-]*$', description: 'unique; letters, digits, . _ @ -' }),
    role: RoleSchema,
  },
  { additionalProperties: false },
);

const TokenParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });

/** The API view of a token: everything but the hash. */
export function tokenView(token: ApiToken): Omit<ApiToken, 'hash'> {
  const { hash: _hash, ...rest } = token;
  return rest;
}

export function registerTokenRoutes(api: FastifyInstance, ctx: ApiContext): void {
  api.get(
    '/tokens',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['tokens'],
        summary: 'Every API token (without secrets), revoked ones included',
        response: { 200: described(Type.Object({ tokens: Type.Array(TokenSchema) }), 'every token'), ...errorResponses(401, 403) },
      },
    },
    async () => ({ tokens: (await ctx.store.listApiTokens()).map(tokenView) }),
  );

  api.post<{ Body: Static<typeof NewTokenBody> }>(
    '/tokens',
    {
      config: { access: 'admin', auditAction: 'token.create' },
      schema: {
        tags: ['tokens'],
        summary: 'Create a token; its secret is in this answer only',
        body: NewTokenBody,
        response: {
          201: described(
            Type.Object({ token: TokenSchema, secret: Type.String({ description: 'use as "Authorization: Bearer <secret>"; not retrievable later' }) }),
            'the token and its secret (shown once)',
          ),
          ...errorResponses(400, 401, 403, 409),
        },
      },
    },
    async (request, reply) => {
      const { name, role } = request.body;
      // Names identify actors in the audit log, so they stay unique even after a revocation.
      if ((await ctx.store.listApiTokens()).some((t) => t.name === name)) throw apiError('TOKEN_NAME_TAKEN', { name });
      const secret = generateToken();
      const token = await ctx.store.createApiToken({ name, role, hash: hashToken(secret), createdAt: ctx.now().toISOString() });
      request.auditNote = { target: token.id, detail: { name, role } };
      return reply.code(201).header('location', `/api/tokens/${encodeURIComponent(token.id)}`).send({ token: tokenView(token), secret });
    },
  );

  api.delete<{ Params: Static<typeof TokenParams> }>(
    '/tokens/:id',
    {
      config: { access: 'admin', auditAction: 'token.revoke' },
      schema: {
        tags: ['tokens'],
        summary: 'Revoke a token (idempotent); the last active admin token cannot be revoked',
        params: TokenParams,
        response: { 200: described(TokenSchema, 'the revoked token'), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const tokens = await ctx.store.listApiTokens();
      const token = tokens.find((t) => t.id === id);
      if (!token) throw apiError('TOKEN_NOT_FOUND', { id });
      if (token.revokedAt !== null) return tokenView(token);
      const otherAdmins = tokens.filter((t) => t.role === 'admin' && t.revokedAt === null && t.id !== id);
      if (token.role === 'admin' && otherAdmins.length === 0) throw apiError('LAST_ADMIN_TOKEN', { id });
      const revoked = await ctx.store.revokeApiToken(id, ctx.now().toISOString());
      if (!revoked) throw apiError('TOKEN_NOT_FOUND', { id });
      return tokenView(revoked);
    },
  );
}
