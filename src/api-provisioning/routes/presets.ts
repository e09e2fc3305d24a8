/**
 * Preset routes: the desired state of devices, as JSON. Writes are validated twice: the body by
 * its schema (field by field), then the rules a schema cannot say (templates parse, table paths,
 * file references exist and have the right FileType).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import '../../api/context.ts';
import { secretsRequested } from '../../api/routes/devices.ts';
import { IncludeSecretsQuery } from '../../api/routes/common.ts';
import { PresetInputSchema, ProvisioningValidationError, validatePresetInput } from '../../provisioning/schemas.ts';
import { StoreError, type JsonObject } from '../../store/types.ts';
import type { Preset, PresetSpec } from '../../store/provisioning/types.ts';
import { provisioningError, provisioningErrorResponses } from '../errors.ts';
import type { ProvisioningRouteContext } from '../index.ts';
import { PresetSchema, presetView } from '../views.ts';

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const SecretsQuery = Type.Object({ includeSecrets: IncludeSecretsQuery }, { additionalProperties: false });

/** Validates a preset body, including its file references. @throws ProvisioningValidationError. */
export async function presetSpecFrom(ctx: ProvisioningRouteContext, body: unknown): Promise<PresetSpec> {
  const spec = validatePresetInput(body) as PresetSpec;
  const problems = await ctx.service.presetFileProblems(spec);
  if (problems.length > 0) throw new ProvisioningValidationError('preset', problems);
  return spec;
}

async function requirePreset(ctx: ProvisioningRouteContext, id: string): Promise<Preset> {
  const p = await ctx.service.provisioning.getPreset(id);
  if (!p) throw provisioningError('PRESET_NOT_FOUND', { id });
  return p;
}

function nameTaken(err: unknown, name: string): never {
  if (err instanceof StoreError && err.code === 'conflict') throw provisioningError('PRESET_NAME_TAKEN', { name });
  throw err;
}

export function registerPresetRoutes(api: FastifyInstance, ctx: ProvisioningRouteContext): void {
  api.get<{ Querystring: Static<typeof SecretsQuery> }>(
    '/presets',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['presets'],
        summary: 'List presets',
        querystring: SecretsQuery,
        response: { 200: Type.Object({ presets: Type.Array(PresetSchema) }, { description: 'Every preset, by name' }), ...provisioningErrorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const withSecrets = secretsRequested(request, request.query.includeSecrets, 'presets');
      return { presets: (await ctx.service.provisioning.listPresets()).map((p) => presetView(p, withSecrets)) };
    },
  );

  api.post<{ Body: unknown }>(
    '/presets',
    {
      config: { access: 'operator', auditAction: 'preset.create' },
      schema: {
        tags: ['presets'],
        summary: 'Create a preset',
        description: 'Templates `{{ var }}` in values are rendered per device from its variables.',
        body: PresetInputSchema,
        response: { 201: { ...PresetSchema, description: 'The preset created' }, ...provisioningErrorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const spec = await presetSpecFrom(ctx, request.body);
      const preset = await ctx.service.provisioning.createPreset(spec).catch((err: unknown) => nameTaken(err, spec.name));
      request.auditNote = { target: preset.id };
      return reply.code(201).send(presetView(preset, false));
    },
  );

  api.get<{ Params: Static<typeof IdParams>; Querystring: Static<typeof SecretsQuery> }>(
    '/presets/:id',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['presets'],
        summary: 'Read a preset',
        params: IdParams,
        querystring: SecretsQuery,
        response: { 200: { ...PresetSchema, description: 'The preset' }, ...provisioningErrorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => presetView(await requirePreset(ctx, request.params.id), secretsRequested(request, request.query.includeSecrets, request.params.id)),
  );

  api.put<{ Params: Static<typeof IdParams>; Body: unknown }>(
    '/presets/:id',
    {
      config: { access: 'operator', auditAction: 'preset.update' },
      schema: {
        tags: ['presets'],
        summary: 'Replace a preset',
        description: 'The revision goes up: values a device refused under the old revision are tried again.',
        params: IdParams,
        body: PresetInputSchema,
        response: { 200: { ...PresetSchema, description: 'The preset after the change' }, ...provisioningErrorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const spec = await presetSpecFrom(ctx, request.body);
      await requirePreset(ctx, request.params.id);
      const updated = await ctx.service.provisioning.updatePreset(request.params.id, spec).catch((err: unknown) => nameTaken(err, spec.name));
      if (!updated) throw provisioningError('PRESET_NOT_FOUND', { id: request.params.id });
      return presetView(updated, false);
    },
  );

  api.delete<{ Params: Static<typeof IdParams> }>(
    '/presets/:id',
    {
      config: { access: 'operator', auditAction: 'preset.delete' },
      schema: {
        tags: ['presets'],
        summary: 'Delete a preset',
        params: IdParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...provisioningErrorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const p = await requirePreset(ctx, request.params.id);
      await ctx.service.provisioning.deletePreset(p.id);
      request.auditNote = { detail: { name: p.name } as JsonObject };
      return reply.code(204).send();
    },
  );
}
