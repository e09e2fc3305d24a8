/**
 * What every route module receives, and the request/route fields the API adds to Fastify's types.
 */
import type { AcsControl } from '../acs/app.ts';
import type { Store } from '../store/types.ts';
import type { AuditNote } from './audit.ts';
import type { Principal, RouteAccess } from './auth.ts';

/** Dependencies and settings shared by the route modules. */
export interface ApiContext {
  store: Store;
  acs: AcsControl;
  /** The clock (tests pin it). */
  now: () => Date;
  /** Upper bound of `?wait=` on task creation, in ms. */
  maxWaitMs: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook on every non-public route. */
    principal: Principal | undefined;
    /** Set by handlers that want to shape their audit entry (or audit a read). */
    auditNote: AuditNote | undefined;
    /** The error code answered, for the audit entry. */
    auditErrorCode: string | undefined;
  }
  interface FastifyContextConfig {
    /** The lowest role the route needs; routes without it are admin-only. */
    access?: RouteAccess;
    /** The audit action of writes on this route, e.g. `task.create`. */
    auditAction?: string;
  }
}
