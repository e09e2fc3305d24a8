/**
 * File routes: upload (raw body, metadata in the query string), list, read metadata, download
 * (authenticated; devices use the public route of download.ts), change metadata, delete.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Readable } from 'node:stream';
import '../../api/context.ts';
import { secretsRequested } from '../../api/routes/devices.ts';
import { IncludeSecretsQuery } from '../../api/routes/common.ts';
import { CursorQuery, LimitQuery, NextCursor } from '../../api/schemas.ts';
import { fileUrl } from '../../provisioning/files.ts';
import { checkAuth, FileAuthSchema, FilePatchSchema, FileTypeSchema, ProvisioningValidationError, validateFilePatch, type ValidationIssue } from '../../provisioning/schemas.ts';
import type { FileAuth, FileRecord } from '../../store/provisioning/types.ts';
import { provisioningError, provisioningErrorResponses } from '../errors.ts';
import type { ProvisioningRouteContext } from '../index.ts';
import { FileSchema, fileView } from '../views.ts';

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const FileName = Type.String({ minLength: 1, maxLength: 255, pattern: '^[^/\\\\\\s]+$', description: 'file name without path (TargetFileName), e.g. gxp2140fw.bin' });

const UploadQuery = Type.Object(
  {
    name: FileName,
    fileType: FileTypeSchema,
    oui: Type.Optional(Type.String({ pattern: '^[0-9A-Fa-f]{6}$' })),
    productClass: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    version: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'default: read from a firmware image header when it has one' })),
    description: Type.Optional(Type.String({ maxLength: 1024 })),
    authScheme: Type.Union([Type.Literal('none'), Type.Literal('basic'), Type.Literal('digest')], { default: 'none', description: 'protection of the public download URL' }),
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 256, pattern: '^[^:\\r\\n]+$' })),
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  },
  { additionalProperties: false },
);

const ListQuery = Type.Object(
  {
    fileType: Type.Optional(FileTypeSchema),
    oui: Type.Optional(Type.String({ pattern: '^[0-9A-Fa-f]{6}$' })),
    productClass: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    version: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    limit: LimitQuery,
    cursor: Type.Optional(CursorQuery),
  },
  { additionalProperties: false },
);

const SecretsQuery = Type.Object({ includeSecrets: IncludeSecretsQuery }, { additionalProperties: false });

async function requireFile(ctx: ProvisioningRouteContext, id: string): Promise<FileRecord> {
  const f = await ctx.service.provisioning.getFile(id);
  if (!f) throw provisioningError('FILE_NOT_FOUND', { id });
  return f;
}

export function registerFileRoutes(api: FastifyInstance, ctx: ProvisioningRouteContext): void {
  const view = (f: FileRecord, withSecrets = false) => fileView(f, fileUrl(ctx.service.fileBaseUrl, f), withSecrets);

  api.post<{ Querystring: Static<typeof UploadQuery> }>(
    '/files',
    {
      config: { access: 'operator', auditAction: 'file.upload' },
      schema: {
        tags: ['files'],
        summary: 'Upload a file',
        description:
          'The body is the file itself (Content-Type: application/octet-stream); the metadata is in the query string. Content is stored once per SHA-256.',
        querystring: UploadQuery,
        response: { 201: { ...FileSchema, description: 'The file record created' }, ...provisioningErrorResponses(400, 401, 403, 413, 415) },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const stream = request.rawUpload as Readable | undefined;
      if (!stream) {
        throw provisioningError('UNSUPPORTED_MEDIA_TYPE', { expected: 'application/octet-stream', contentType: String(request.headers['content-type'] ?? '(none)') });
      }
      const auth: FileAuth = { scheme: q.authScheme, username: q.username ?? null, password: q.password ?? null };
      const issues: ValidationIssue[] = [];
      checkAuth('/authScheme', { scheme: auth.scheme, username: auth.username, password: auth.password }, issues);
      if (issues.length > 0) {
        stream.resume();
        throw new ProvisioningValidationError('query string', issues);
      }
      const file = await ctx.service.files.add(stream, {
        name: q.name,
        fileType: q.fileType,
        oui: q.oui?.toUpperCase() ?? null,
        productClass: q.productClass ?? null,
        version: q.version ?? null,
        description: q.description ?? null,
        auth,
      });
      request.body = { name: file.name, size: file.size, sha256: file.sha256 };
      request.auditNote = { target: file.id };
      return reply.code(201).send(view(file));
    },
  );

  api.get<{ Querystring: Static<typeof ListQuery> }>(
    '/files',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['files'],
        summary: 'List files',
        querystring: ListQuery,
        response: { 200: Type.Object({ files: Type.Array(FileSchema), nextCursor: NextCursor }, { description: 'A page of files, oldest first' }), ...provisioningErrorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await ctx.service.provisioning.listFiles({ fileType: q.fileType, oui: q.oui?.toUpperCase(), productClass: q.productClass, version: q.version, limit: q.limit, cursor: q.cursor });
      return { files: page.items.map((f) => view(f)), nextCursor: page.nextCursor };
    },
  );

  api.get<{ Params: Static<typeof IdParams>; Querystring: Static<typeof SecretsQuery> }>(
    '/files/:id',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['files'],
        summary: 'Read a file record',
        params: IdParams,
        querystring: SecretsQuery,
        response: { 200: { ...FileSchema, description: 'The file record' }, ...provisioningErrorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => view(await requireFile(ctx, request.params.id), secretsRequested(request, request.query.includeSecrets, request.params.id)),
  );

  api.get<{ Params: Static<typeof IdParams> }>(
    '/files/:id/content',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['files'],
        summary: 'Download a file (API token)',
        params: IdParams,
        response: { 200: { description: 'The file bytes (application/octet-stream)', type: 'string', format: 'binary' }, ...provisioningErrorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const f = await requireFile(ctx, request.params.id);
      if (!(await ctx.service.files.hasContent(f))) throw provisioningError('FILE_NOT_FOUND', { id: f.id });
      return reply
        .type('application/octet-stream')
        .header('content-length', String(f.size))
        .header('etag', `"${f.sha256}"`)
        .header('content-disposition', `attachment; filename="${f.name.replace(/["\\]/g, '_')}"`)
        .send(ctx.service.files.open(f));
    },
  );

  api.patch<{ Params: Static<typeof IdParams>; Body: unknown }>(
    '/files/:id',
    {
      config: { access: 'operator', auditAction: 'file.update' },
      schema: {
        tags: ['files'],
        summary: 'Change a file record (not its content)',
        params: IdParams,
        body: FilePatchSchema,
        response: { 200: { ...FileSchema, description: 'The record after the change' }, ...provisioningErrorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const patch = validateFilePatch(request.body);
      await requireFile(ctx, request.params.id);
      const updated = await ctx.service.provisioning.updateFile(request.params.id, {
        ...patch,
        oui: patch.oui === undefined ? undefined : patch.oui === null ? null : patch.oui.toUpperCase(),
        auth: patch.auth ? { scheme: patch.auth.scheme, username: patch.auth.username ?? null, password: patch.auth.password ?? null } : undefined,
      });
      if (!updated) throw provisioningError('FILE_NOT_FOUND', { id: request.params.id });
      return view(updated);
    },
  );

  api.delete<{ Params: Static<typeof IdParams> }>(
    '/files/:id',
    {
      config: { access: 'operator', auditAction: 'file.delete' },
      schema: {
        tags: ['files'],
        summary: 'Delete a file',
        description: 'Refused while a preset or an open rollout refers to the file.',
        params: IdParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...provisioningErrorResponses(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const f = await requireFile(ctx, request.params.id);
      const users = await ctx.service.fileUsers(f.id);
      if (users.length > 0) throw provisioningError('FILE_IN_USE', { id: f.id, users: users.join(', ') });
      await ctx.service.files.remove(f.id);
      return reply.code(204).send();
    },
  );
}

export { FileAuthSchema };
