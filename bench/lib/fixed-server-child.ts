/**
 * Child process entry of the ceiling's server: a bare `node:http` server that answers every step
 * of the benchmark's session shape with fixed bytes and no logic (a non-empty POST gets one
 * prebuilt InformResponse, an empty POST gets 204). Nothing is parsed, nothing is stored: what a
 * session costs here is the HTTP and TCP cost of the shape plus the load generator's own work.
 *
 * argv: [cwmpVersion] (default 1.2): the namespace of the fixed InformResponse.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildEnvelope } from '../../src/cwmp/index.ts';
import type { CwmpVersion } from '../../src/cwmp/types.ts';
import { serveChild } from './child.ts';

const version = (process.argv[2] ?? '1.2') as CwmpVersion;
const informResponse = Buffer.from(buildEnvelope({ header: { id: 'fixed' }, body: { method: 'InformResponse', maxEnvelopes: 1 } }, { version }), 'utf8');
const informHeaders = { 'content-type': 'text/xml; charset="utf-8"', 'content-length': String(informResponse.length) };
const emptyHeaders = { 'content-length': '0' };
let served = 0;

const server = http.createServer((req, res) => {
  let size = 0;
  req.on('data', (c: Buffer) => (size += c.length));
  req.on('end', () => {
    served++;
    if (size > 0) {
      res.writeHead(200, informHeaders);
      res.end(informResponse);
    } else {
      res.writeHead(204, emptyHeaders);
      res.end();
    }
  });
});
// the same keep-alive settings as the ACS's CWMP listener (app.ts)
server.keepAliveTimeout = 30_000;
server.headersTimeout = 35_000;

serveChild(
  { served: () => served },
  () =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` }));
    }),
  () => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }),
);
