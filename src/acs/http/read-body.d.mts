import type { IncomingMessage } from 'node:http';

/** See read-body.mjs. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null>;
