/**
 * Webhook routes (admin: a webhook holds a signing secret): CRUD, the delivery log, and a test
 * delivery (`ping`).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import '../../api/context.ts';
import { CursorQuery, LimitQuery, NextCursor } from '../../api/schemas.ts';
import { validateWebhookInput, WebhookInputSchema } from '../../provisioning/schemas.ts';
import type { DeliveryStatus, Webhook, WebhookSpec } from '../../store/provisioning/types.ts';
import { provisioningError, provisioningErrorResponses } from '../errors.ts';
import type { ProvisioningRouteContext } from '../index.ts';
import { DeliverySchema, deliveryView, WebhookSchema, webhookView } from '../views.ts';

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const NoQuery = Type.Object({}, { additionalProperties: false });
const DeliveriesQuery = Type.Object(
  { status: Type.Optional(Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')])), limit: LimitQuery, cursor: Type.Optional(CursorQuery) },
  { additionalProperties: false },
);

export function registerWebhookRoutes(api: FastifyInstance, ctx: ProvisioningRouteContext): void {
  const p = () => ctx.service.provisioning;
  const requireHook = async (id: string): Promise<Webhook> => {
    const w = await p().getWebhook(id);
    if (!w) throw provisioningError('WEBHOOK_NOT_FOUND', { id });
    return w;
  };

  api.get(
    '/webhooks',
    {
      config: { access: 'admin' },
      schema: { tags: ['webhooks'], summary: 'List webhooks', querystring: NoQuery, response: { 200: Type.Object({ webhooks: Type.Array(WebhookSchema) }, { description: 'Every webhook' }), ...provisioningErrorResponses(401, 403) } },
    },
    async () => ({ webhooks: (await p().listWebhooks()).map(webhookView) }),
  );

  api.post<{ Body: unknown }>(
    '/webhooks',
    {
      config: { access: 'admin', auditAction: 'webhook.create' },
      schema: {
        tags: ['webhooks'],
        summary: 'Create a webhook',
        description:
          'Deliveries are JSON POSTs signed with `x-switchboard-signature: sha256=<hex HMAC-SHA256(secret, "<x-switchboard-timestamp>.<body>")>`, retried with exponential back-off.',
        body: WebhookInputSchema,
        response: { 201: { ...WebhookSchema, description: 'The webhook created' }, ...provisioningErrorResponses(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const hook = await p().createWebhook(validateWebhookInput(request.body) as WebhookSpec);
      request.auditNote = { target: hook.id };
      return reply.code(201).send(webhookView(hook));
    },
  );

  api.get<{ Params: Static<typeof IdParams> }>(
    '/webhooks/:id',
    {
      config: { access: 'admin' },
      schema: { tags: ['webhooks'], summary: 'Read a webhook', params: IdParams, response: { 200: { ...WebhookSchema, description: 'The webhook' }, ...provisioningErrorResponses(401, 403, 404) } },
    },
    async (request) => webhookView(await requireHook(request.params.id)),
  );

  api.put<{ Params: Static<typeof IdParams>; Body: unknown }>(
    '/webhooks/:id',
    {
      config: { access: 'admin', auditAction: 'webhook.update' },
      schema: {
        tags: ['webhooks'],
        summary: 'Replace a webhook',
        params: IdParams,
        body: WebhookInputSchema,
        response: { 200: { ...WebhookSchema, description: 'The webhook after the change' }, ...provisioningErrorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const spec = validateWebhookInput(request.body) as WebhookSpec;
      await requireHook(request.params.id);
      const updated = await p().updateWebhook(request.params.id, spec);
      if (!updated) throw provisioningError('WEBHOOK_NOT_FOUND', { id: request.params.id });
      return webhookView(updated);
    },
  );

  api.delete<{ Params: Static<typeof IdParams> }>(
    '/webhooks/:id',
    {
      config: { access: 'admin', auditAction: 'webhook.delete' },
      schema: { tags: ['webhooks'], summary: 'Delete a webhook', params: IdParams, response: { 204: Type.Null({ description: 'Deleted' }), ...provisioningErrorResponses(401, 403, 404) } },
    },
    async (request, reply) => {
      if (!(await p().deleteWebhook(request.params.id))) throw provisioningError('WEBHOOK_NOT_FOUND', { id: request.params.id });
      return reply.code(204).send();
    },
  );

  api.get<{ Params: Static<typeof IdParams>; Querystring: Static<typeof DeliveriesQuery> }>(
    '/webhooks/:id/deliveries',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['webhooks'],
        summary: 'Delivery log of a webhook',
        params: IdParams,
        querystring: DeliveriesQuery,
        response: { 200: Type.Object({ deliveries: Type.Array(DeliverySchema), nextCursor: NextCursor }, { description: 'Newest first' }), ...provisioningErrorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      await requireHook(request.params.id);
      const page = await p().listDeliveries({ webhookId: request.params.id, status: request.query.status as DeliveryStatus | undefined, limit: request.query.limit, cursor: request.query.cursor });
      return { deliveries: page.items.map(deliveryView), nextCursor: page.nextCursor };
    },
  );

  api.post<{ Params: Static<typeof IdParams> }>(
    '/webhooks/:id/test',
    {
      config: { access: 'admin', auditAction: 'webhook.test' },
      schema: {
        tags: ['webhooks'],
        summary: 'Send a test delivery (event "ping")',
        params: IdParams,
        response: { 202: { ...DeliverySchema, description: 'The delivery queued' }, ...provisioningErrorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const hook = await requireHook(request.params.id);
      const [delivery] = await ctx.service.webhooks.publish('ping', { webhookId: hook.id, name: hook.name }, hook.id);
      if (!delivery) throw provisioningError('WEBHOOK_NOT_FOUND', { id: hook.id });
      return reply.code(202).send(deliveryView(delivery));
    },
  );
}
