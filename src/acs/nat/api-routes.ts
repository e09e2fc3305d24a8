/**
 * REST routes of the NAT part (mounted by src/api/index.ts inside its `/api` scope, so they get the
 * API's authentication, roles, audit and JSON errors):
 *
 * - `GET /devices/{id}/gateway`: the gateway the device reports being behind (TR-111 Part 1), or
 *   `gateway: null`;
 * - `GET /devices/{id}/behind`: the devices behind a gateway (by their GatewayInfo, and by the
 *   gateway's own ManageableDevice table); `{id}` may be a gateway this ACS does not manage;
 * - `GET /devices/{id}/nat`: the device's STUN binding (public address, first seen, refreshed,
 *   changed), its reported UDPConnectionRequestAddress and whether it looks NATed.
 * All three are reads (`viewer`).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { apiError } from '../../api/errors.ts';
import { DeviceIdParam, described, errorResponses } from '../../api/schemas.ts';
import type { Store } from '../../store/types.ts';
import { devicesBehind, gatewayOf } from './gateway.ts';
import type { AcsStunService } from './stun-service.ts';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);
const Timestamp = Type.String({ description: 'ISO 8601 UTC timestamp' });

const GatewayIdentitySchema = {
  oui: Type.String({ description: 'GatewayInfo.ManufacturerOUI' }),
  productClass: Type.String(),
  serialNumber: Type.String(),
  id: Type.String({ description: 'OUI-ProductClass-SerialNumber: the gateway\'s device id' }),
  managed: Type.Boolean({ description: 'the gateway is itself a device of this ACS' }),
};

export const GatewayAnswerSchema = Type.Object(
  {
    deviceId: Type.String(),
    gateway: Nullable(Type.Object({ ...GatewayIdentitySchema, lastContact: Nullable(Timestamp) })),
    reportedAt: Nullable(Timestamp),
  },
  { title: 'DeviceGateway' },
);

export const BehindAnswerSchema = Type.Object(
  {
    gateway: Type.Object(GatewayIdentitySchema),
    devices: Type.Array(
      Type.Object({
        id: Type.String(),
        oui: Type.String(),
        productClass: Type.String(),
        serialNumber: Type.String(),
        managed: Type.Boolean(),
        lastContact: Nullable(Timestamp),
        sources: Type.Array(Type.Union([Type.Literal('gateway-info'), Type.Literal('manageable-device')])),
      }),
    ),
    truncated: Type.Boolean(),
  },
  { title: 'DevicesBehindGateway' },
);

export const NatAnswerSchema = Type.Object(
  {
    deviceId: Type.String(),
    natStatus: Type.Union([Type.Literal('behind-nat'), Type.Literal('direct'), Type.Literal('unknown')]),
    connectionRequestUrl: Nullable(Type.String()),
    udpConnectionRequestAddress: Nullable(Type.String({ description: 'as the device last reported it' })),
    stunServer: Type.Boolean({ description: 'the ACS runs a STUN server' }),
    binding: Nullable(
      Type.Object({
        address: Type.String({ description: 'public address of the NAT binding' }),
        port: Type.Integer(),
        family: Type.String(),
        username: Type.String(),
        firstSeenAt: Timestamp,
        refreshedAt: Timestamp,
        changedAt: Timestamp,
        integrity: Type.Boolean({ description: 'the last Binding Request carried a verified MESSAGE-INTEGRITY' }),
        connectionRequestBinding: Type.Boolean(),
      }),
    ),
  },
  { title: 'DeviceNat' },
);

const IdParams = Type.Object({ id: DeviceIdParam });
const BehindQuery = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 }) }, { additionalProperties: false });
const TAG = 'nat';

/** What the routes read. */
export interface NatRouteDeps {
  store: Store;
  /** The STUN service, when the ACS runs one (read at each request: it may start after the API). */
  stun: () => AcsStunService | null;
}

/**
 * The STUN service of a running ACS, if it has one (`acs.nat.stun`, see src/acs/nat/index.ts).
 * @returns the service or null; never throws.
 */
export function stunOf(acs: unknown): AcsStunService | null {
  const nat = (acs as { nat?: { stun?: AcsStunService | null } | null } | null)?.nat;
  return nat?.stun ?? null;
}

/**
 * Registers the NAT routes on an API scope (paths relative to `/api`).
 * @throws Error when a route cannot be registered (a bug).
 */
export function registerNatRoutes(api: FastifyInstance, deps: NatRouteDeps): void {
  api.get<{ Params: Static<typeof IdParams> }>(
    '/devices/:id/gateway',
    {
      config: { access: 'viewer' },
      schema: {
        tags: [TAG],
        summary: 'The gateway this device reports being behind (TR-111 Part 1, Device.GatewayInfo)',
        params: IdParams,
        response: { 200: described(GatewayAnswerSchema, 'the gateway, or gateway: null when the device reports none'), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const link = await gatewayOf(deps.store, id);
      if (link === undefined) throw apiError('DEVICE_NOT_FOUND', { id });
      return link === null ? { deviceId: id, gateway: null, reportedAt: null } : link;
    },
  );

  api.get<{ Params: Static<typeof IdParams>; Querystring: Static<typeof BehindQuery> }>(
    '/devices/:id/behind',
    {
      config: { access: 'viewer' },
      schema: {
        tags: [TAG],
        summary: 'The devices behind this gateway (their GatewayInfo, and its ManageableDevice table)',
        description: 'The id may be a gateway that this ACS does not manage, as long as some device reports it.',
        params: IdParams,
        querystring: BehindQuery,
        response: { 200: described(BehindAnswerSchema, 'the gateway and the devices behind it, sorted by id'), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const answer = await devicesBehind(deps.store, id, request.query.limit);
      if (answer === null) throw apiError('DEVICE_NOT_FOUND', { id });
      return answer;
    },
  );

  api.get<{ Params: Static<typeof IdParams> }>(
    '/devices/:id/nat',
    {
      config: { access: 'viewer' },
      schema: {
        tags: [TAG],
        summary: 'The device\'s NAT binding as the ACS\'s STUN server sees it (TR-111 Part 2)',
        params: IdParams,
        response: { 200: described(NatAnswerSchema, 'binding: null when the STUN server has not seen the device'), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const device = await deps.store.getDevice(id);
      if (device === null) throw apiError('DEVICE_NOT_FOUND', { id });
      const stun = deps.stun();
      // lookup: on several instances, the binding another instance's STUN server holds
      const record = await stun?.lookup(id);
      const binding = record === undefined ? null : (({ deviceId: _d, ...rest }) => rest)(record);
      return {
        deviceId: id,
        natStatus: stun?.natStatus(id, device.connectionRequestUrl) ?? 'unknown',
        connectionRequestUrl: device.connectionRequestUrl,
        udpConnectionRequestAddress: device.udpConnectionRequestAddress,
        stunServer: stun !== null,
        binding,
      };
    },
  );
}
