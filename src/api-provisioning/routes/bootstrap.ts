/**
 * Zero-touch routes (the role Grandstream's GAPS plays): bootstrap records map a serial number or
 * MAC to an ACS URL, the device's credentials, variables and tags; the policy says what happens to
 * devices that have neither a record nor a pre-registration. Admin only: records hold credentials.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import '../../api/context.ts';
import { secretsRequested } from '../../api/routes/devices.ts';
import { IncludeSecretsQuery } from '../../api/routes/common.ts';
import { CursorQuery, LimitQuery, NextCursor } from '../../api/schemas.ts';
import { CsvError, parseCsv } from '../../provisioning/csv.ts';
import { BootstrapInputSchema, UnknownDevicePolicySchema, validateBootstrapInput, type BootstrapInput } from '../../provisioning/schemas.ts';
import { normaliseKey } from '../../provisioning/service.ts';
import type { BootstrapSpec, UnknownDevicePolicy } from '../../store/provisioning/types.ts';
import { provisioningError, provisioningErrorResponses } from '../errors.ts';
import type { ProvisioningRouteContext } from '../index.ts';
import { BootstrapSchema, bootstrapView } from '../views.ts';
import { KEY_COLUMNS } from './variables.ts';

const KeyParams = Type.Object({ key: Type.String({ minLength: 1, maxLength: 128, description: 'serial number or MAC (any notation)' }) });
const ListQuery = Type.Object({ limit: LimitQuery, cursor: Type.Optional(CursorQuery), includeSecrets: IncludeSecretsQuery }, { additionalProperties: false });
const OneQuery = Type.Object({ includeSecrets: IncludeSecretsQuery }, { additionalProperties: false });
const NoQuery = Type.Object({}, { additionalProperties: false });
const PolicyBody = Type.Object({ unknownDevices: UnknownDevicePolicySchema }, { additionalProperties: false });
const PolicyAnswer = Type.Object(
  { unknownDevices: UnknownDevicePolicySchema },
  { description: 'accept: register and provision; quarantine: register with the tag "quarantine", push nothing; refuse: answer 403, store nothing' },
);

/** CSV columns that fill record fields; every other column becomes a variable. */
const FIELD_COLUMNS: Record<string, keyof BootstrapInput> = {
  acsurl: 'acsUrl',
  acsusername: 'acsUsername',
  acspassword: 'acsPassword',
  connectionrequestusername: 'connectionRequestUsername',
  connectionrequestpassword: 'connectionRequestPassword',
  periodicinforminterval: 'periodicInformInterval',
  tags: 'tags',
  note: 'note',
};

/**
 * Reads a bootstrap CSV (key column, record fields by name, other columns as variables; `tags`
 * separated by spaces or `|`).
 * @returns the records, validated.
 * @throws CsvError (with the line) for malformed CSV or an invalid record.
 */
export function readBootstrapCsv(text: string): BootstrapSpec[] {
  const table = parseCsv(text);
  const key = table.header.find((h) => KEY_COLUMNS.includes(h.toLowerCase()));
  if (!key) throw new CsvError(`no key column (name one of ${KEY_COLUMNS.join(', ')})`, 1);
  const seen = new Set<string>();
  return table.rows.map((r) => {
    const k = normaliseKey(r.cells[key]);
    if (k === '') throw new CsvError('the key cell is empty', r.line);
    if (seen.has(k)) throw new CsvError(`key ${k} appears twice`, r.line);
    seen.add(k);
    const body: Record<string, unknown> = {};
    const variables: Record<string, string> = {};
    for (const h of table.header) {
      if (h === key || r.cells[h] === '') continue;
      const field = FIELD_COLUMNS[h.toLowerCase()];
      if (field === 'tags') body.tags = r.cells[h].split(/[\s|]+/).filter(Boolean);
      else if (field === 'periodicInformInterval') body.periodicInformInterval = Number(r.cells[h]);
      else if (field) body[field] = r.cells[h];
      else variables[h] = r.cells[h];
    }
    if (Object.keys(variables).length > 0) body.variables = variables;
    try {
      return { key: k, ...validateBootstrapInput(body) } as BootstrapSpec;
    } catch (err) {
      throw new CsvError(err instanceof Error ? err.message : String(err), r.line);
    }
  });
}

export function registerBootstrapRoutes(api: FastifyInstance, ctx: ProvisioningRouteContext): void {
  const p = () => ctx.service.provisioning;

  api.get(
    '/bootstrap-policy',
    {
      config: { access: 'viewer' },
      schema: { tags: ['bootstrap'], summary: 'Read the unknown-device policy', querystring: NoQuery, response: { 200: PolicyAnswer, ...provisioningErrorResponses(401, 403) } },
    },
    async () => ({ unknownDevices: await ctx.service.unknownDevicePolicy() }),
  );

  api.put<{ Body: Static<typeof PolicyBody> }>(
    '/bootstrap-policy',
    {
      config: { access: 'admin', auditAction: 'bootstrap.policy' },
      schema: { tags: ['bootstrap'], summary: 'Set the unknown-device policy', body: PolicyBody, response: { 200: PolicyAnswer, ...provisioningErrorResponses(400, 401, 403) } },
    },
    async (request) => {
      await ctx.service.setUnknownDevicePolicy(request.body.unknownDevices as UnknownDevicePolicy);
      return { unknownDevices: request.body.unknownDevices };
    },
  );

  api.get<{ Querystring: Static<typeof ListQuery> }>(
    '/bootstrap',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['bootstrap'],
        summary: 'List bootstrap records',
        querystring: ListQuery,
        response: { 200: Type.Object({ records: Type.Array(BootstrapSchema), nextCursor: NextCursor }, { description: 'A page of records by key' }), ...provisioningErrorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const withSecrets = secretsRequested(request, request.query.includeSecrets, 'bootstrap');
      const page = await p().listBootstrap({ limit: request.query.limit, cursor: request.query.cursor });
      return { records: page.items.map((b) => bootstrapView(b, withSecrets)), nextCursor: page.nextCursor };
    },
  );

  api.post(
    '/bootstrap/import',
    {
      config: { access: 'admin', auditAction: 'bootstrap.import' },
      schema: {
        tags: ['bootstrap'],
        summary: 'Import bootstrap records from CSV',
        description: 'Body: text/csv with a key column (serial/mac/key), optional acsUrl, acsUsername, acsPassword, connectionRequestUsername, connectionRequestPassword, periodicInformInterval, tags, note; other columns become variables. Each row replaces its record.',
        response: { 200: Type.Object({ created: Type.Integer(), replaced: Type.Integer() }, { description: 'How many records were written' }), ...provisioningErrorResponses(400, 401, 403, 413, 415) },
      },
    },
    async (request) => {
      if (typeof request.rawUpload !== 'string') {
        throw provisioningError('UNSUPPORTED_MEDIA_TYPE', { expected: 'text/csv', contentType: String(request.headers['content-type'] ?? '(none)') });
      }
      const specs = readBootstrapCsv(request.rawUpload);
      let created = 0;
      for (const s of specs) if ((await p().putBootstrap(s)).created) created++;
      request.auditNote = { detail: { created, replaced: specs.length - created } };
      return { created, replaced: specs.length - created };
    },
  );

  api.get<{ Params: Static<typeof KeyParams>; Querystring: Static<typeof OneQuery> }>(
    '/bootstrap/:key',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['bootstrap'],
        summary: 'Read a bootstrap record',
        params: KeyParams,
        querystring: OneQuery,
        response: { 200: { ...BootstrapSchema, description: 'The record' }, ...provisioningErrorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const key = normaliseKey(request.params.key);
      const b = await p().getBootstrap(key);
      if (!b) throw provisioningError('BOOTSTRAP_NOT_FOUND', { key });
      return bootstrapView(b, secretsRequested(request, request.query.includeSecrets, key));
    },
  );

  api.put<{ Params: Static<typeof KeyParams>; Body: unknown }>(
    '/bootstrap/:key',
    {
      config: { access: 'admin', auditAction: 'bootstrap.put' },
      schema: {
        tags: ['bootstrap'],
        summary: 'Create or replace a bootstrap record',
        description: 'Applied at the device\'s first Inform (and after a factory reset): credentials by SetParameterValues (and stored for the ACS\'s authentication of the device), tags, variables; an acsUrl other than this ACS moves the device there.',
        params: KeyParams,
        body: BootstrapInputSchema,
        response: {
          200: { ...BootstrapSchema, description: 'The record replaced' },
          201: { ...BootstrapSchema, description: 'The record created' },
          ...provisioningErrorResponses(400, 401, 403),
        },
      },
    },
    async (request, reply) => {
      const key = normaliseKey(request.params.key);
      const body = validateBootstrapInput(request.body);
      const { record, created } = await p().putBootstrap({ key, ...body } as BootstrapSpec);
      request.auditNote = { target: key };
      return reply.code(created ? 201 : 200).send(bootstrapView(record, false));
    },
  );

  api.delete<{ Params: Static<typeof KeyParams> }>(
    '/bootstrap/:key',
    {
      config: { access: 'admin', auditAction: 'bootstrap.delete' },
      schema: { tags: ['bootstrap'], summary: 'Delete a bootstrap record', params: KeyParams, response: { 204: Type.Null({ description: 'Deleted' }), ...provisioningErrorResponses(401, 403, 404) } },
    },
    async (request, reply) => {
      const key = normaliseKey(request.params.key);
      if (!(await p().deleteBootstrap(key))) throw provisioningError('BOOTSTRAP_NOT_FOUND', { key });
      request.auditNote = { target: key };
      return reply.code(204).send();
    },
  );
}
