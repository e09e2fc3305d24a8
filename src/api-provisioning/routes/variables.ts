/**
 * Variable routes: per-device values that preset templates use (`{{ sip1_user }}`), keyed by serial
 * number, MAC (any notation, stored as 12 upper-case hex digits) or device id. A fleet's table is
 * imported as CSV: one row per device, a key column, one column per variable.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import '../../api/context.ts';
import { secretsRequested } from '../../api/routes/devices.ts';
import { IncludeSecretsQuery } from '../../api/routes/common.ts';
import { CursorQuery, LimitQuery, NextCursor } from '../../api/schemas.ts';
import { CsvError, parseCsv } from '../../provisioning/csv.ts';
import { normaliseKey } from '../../provisioning/service.ts';
import { provisioningError, provisioningErrorResponses } from '../errors.ts';
import type { ProvisioningRouteContext } from '../index.ts';
import { VariableSetSchema, variablesView } from '../views.ts';

/** Header names recognised as the key column (case-insensitive). */
export const KEY_COLUMNS = ['key', 'serial', 'serialnumber', 'serial_number', 'mac', 'macaddress', 'mac_address', 'deviceid', 'device_id', 'device'];
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const MAX_VARIABLES_PER_KEY = 256;

const KeyParams = Type.Object({ key: Type.String({ minLength: 1, maxLength: 512, description: 'serial number, MAC or device id' }) });
const ImportQuery = Type.Object(
  {
    mode: Type.Union([Type.Literal('merge'), Type.Literal('replace')], {
      default: 'merge',
      description: 'merge: set the given cells, keep other variables (empty cells change nothing); replace: each row replaces the variables of its key',
    }),
    keyColumn: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: `default: the first column named ${KEY_COLUMNS.join(', ')}` })),
  },
  { additionalProperties: false },
);
const ListQuery = Type.Object({ keyPrefix: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })), limit: LimitQuery, cursor: Type.Optional(CursorQuery), includeSecrets: IncludeSecretsQuery }, { additionalProperties: false });
const OneQuery = Type.Object({ includeSecrets: IncludeSecretsQuery }, { additionalProperties: false });
const PutBody = Type.Object(
  { variables: Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_-]*$' }), Type.String({ maxLength: 4096 }), { description: 'replaces every variable of the key' }) },
  { additionalProperties: false },
);

export interface CsvImport {
  sets: { key: string; variables: Record<string, string> }[];
  columns: string[];
  keyColumn: string;
}

/**
 * Reads a variables CSV.
 * @returns one set per row.
 * @throws CsvError for malformed CSV, a missing key column, a bad column name, empty or duplicate keys.
 */
export function readVariablesCsv(text: string, keyColumn: string | undefined): CsvImport {
  const table = parseCsv(text);
  const key = keyColumn ?? table.header.find((h) => KEY_COLUMNS.includes(h.toLowerCase()));
  if (!key || !table.header.includes(key)) {
    throw new CsvError(keyColumn ? `there is no column "${keyColumn}"` : `no key column (name one of ${KEY_COLUMNS.join(', ')}, or pass ?keyColumn=)`, 1);
  }
  const columns = table.header.filter((h) => h !== key);
  for (const c of columns) if (!VARIABLE_NAME.test(c)) throw new CsvError(`column "${c}" is not a variable name (letters, digits, _ and -, not starting with a digit)`, 1);
  if (columns.length > MAX_VARIABLES_PER_KEY) throw new CsvError(`more than ${MAX_VARIABLES_PER_KEY} variable columns`, 1);
  const seen = new Map<string, number>();
  const sets = table.rows.map((r) => {
    const raw = r.cells[key];
    if (raw === '') throw new CsvError(`the key cell ("${key}") is empty`, r.line);
    const k = normaliseKey(raw);
    if (seen.has(k)) throw new CsvError(`key ${k} already appears on line ${seen.get(k)}`, r.line);
    seen.set(k, r.line);
    const variables: Record<string, string> = {};
    // Empty cells set nothing (in replace mode the key's other variables are dropped anyway).
    for (const c of columns) if (r.cells[c] !== '') variables[c] = r.cells[c];
    return { key: k, variables };
  });
  return { sets, columns, keyColumn: key };
}

export function registerVariableRoutes(api: FastifyInstance, ctx: ProvisioningRouteContext): void {
  const p = () => ctx.service.provisioning;

  api.post<{ Querystring: Static<typeof ImportQuery> }>(
    '/variables/import',
    {
      config: { access: 'operator', auditAction: 'variables.import' },
      schema: {
        tags: ['variables'],
        summary: 'Import variables from CSV',
        description: 'Body: text/csv with a header line, e.g. `mac,sip1_user,sip1_password`. Comma or semicolon separated.',
        querystring: ImportQuery,
        response: {
          200: Type.Object({ keys: Type.Integer(), columns: Type.Array(Type.String()), keyColumn: Type.String(), mode: Type.String() }, { description: 'What was imported' }),
          ...provisioningErrorResponses(400, 401, 403, 413, 415),
        },
      },
    },
    async (request) => {
      if (typeof request.rawUpload !== 'string') {
        throw provisioningError('UNSUPPORTED_MEDIA_TYPE', { expected: 'text/csv', contentType: String(request.headers['content-type'] ?? '(none)') });
      }
      const parsed = readVariablesCsv(request.rawUpload, request.query.keyColumn);
      const n = await p().putVariables(parsed.sets, request.query.mode);
      request.auditNote = { detail: { keys: n, columns: parsed.columns } };
      return { keys: n, columns: parsed.columns, keyColumn: parsed.keyColumn, mode: request.query.mode };
    },
  );

  api.get<{ Querystring: Static<typeof ListQuery> }>(
    '/variables',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['variables'],
        summary: 'List variables by key',
        description: 'Values of variables whose name ends in password/secret/passphrase/pin are hidden unless an admin asks includeSecrets=true.',
        querystring: ListQuery,
        response: { 200: Type.Object({ sets: Type.Array(VariableSetSchema), nextCursor: NextCursor }, { description: 'A page of keys with their variables' }), ...provisioningErrorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const q = request.query;
      const withSecrets = secretsRequested(request, q.includeSecrets, 'variables');
      const page = await p().listVariables({ keyPrefix: q.keyPrefix ? normaliseKey(q.keyPrefix) : undefined, limit: q.limit, cursor: q.cursor });
      return { sets: page.items.map((s) => variablesView(s, withSecrets)), nextCursor: page.nextCursor };
    },
  );

  api.get<{ Params: Static<typeof KeyParams>; Querystring: Static<typeof OneQuery> }>(
    '/variables/:key',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['variables'],
        summary: 'Read the variables of a key',
        params: KeyParams,
        querystring: OneQuery,
        response: { 200: { ...VariableSetSchema, description: 'The variables' }, ...provisioningErrorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const key = normaliseKey(request.params.key);
      const [set] = await p().getVariables([key]);
      if (!set) throw provisioningError('VARIABLES_NOT_FOUND', { key });
      return variablesView(set, secretsRequested(request, request.query.includeSecrets, key));
    },
  );

  api.put<{ Params: Static<typeof KeyParams>; Body: Static<typeof PutBody> }>(
    '/variables/:key',
    {
      config: { access: 'operator', auditAction: 'variables.put' },
      schema: {
        tags: ['variables'],
        summary: 'Replace the variables of a key',
        params: KeyParams,
        body: PutBody,
        response: { 200: { ...VariableSetSchema, description: 'The variables after the change' }, ...provisioningErrorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const key = normaliseKey(request.params.key);
      if (Object.keys(request.body.variables).length > MAX_VARIABLES_PER_KEY) {
        throw provisioningError('VALIDATION_FAILED', { part: 'body', issues: `/variables: at most ${MAX_VARIABLES_PER_KEY} variables` });
      }
      const bad = Object.keys(request.body.variables).find((n) => !VARIABLE_NAME.test(n));
      if (bad !== undefined) {
        throw provisioningError('VALIDATION_FAILED', { part: 'body', issues: `/variables/${bad}: "${bad}" is not a variable name (letters, digits, _ and -, not starting with a digit)` });
      }
      const vars = Object.fromEntries(Object.entries(request.body.variables).filter(([, v]) => v !== ''));
      await p().putVariables([{ key, variables: vars }], 'replace');
      const [set] = await p().getVariables([key]);
      request.auditNote = { target: key };
      return variablesView(set ?? { key, variables: {}, updatedAt: ctx.now().toISOString() }, false);
    },
  );

  api.delete<{ Params: Static<typeof KeyParams> }>(
    '/variables/:key',
    {
      config: { access: 'operator', auditAction: 'variables.delete' },
      schema: {
        tags: ['variables'],
        summary: 'Delete the variables of a key',
        params: KeyParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...provisioningErrorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const key = normaliseKey(request.params.key);
      if ((await p().deleteVariables({ keys: [key] })) === 0) throw provisioningError('VARIABLES_NOT_FOUND', { key });
      request.auditNote = { target: key };
      return reply.code(204).send();
    },
  );
}
