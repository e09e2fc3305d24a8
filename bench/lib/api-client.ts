/**
 * A small keep-alive client for the ACS's REST API (bearer token), used by the benchmarks to set the
 * ACS up (presets, variables) and to time reads (inventory). One request at a time per client.
 */
import http from 'node:http';

export interface ApiAnswer {
  status: number;
  json: unknown;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    what: string,
  ) {
    super(`${what}: HTTP ${status} ${JSON.stringify(body).slice(0, 300)}`);
    this.name = 'ApiError';
  }
}

export class ApiClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1, noDelay: true });

  constructor(
    private readonly base: string,
    private readonly token: string,
  ) {}

  /** Sends a request; resolves status and parsed JSON (null for an empty body). Rejects on network errors. */
  request(method: string, path: string, body?: { json: unknown } | { csv: string }): Promise<ApiAnswer> {
    let payload: Buffer | null = null;
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (body && 'json' in body) {
      payload = Buffer.from(JSON.stringify(body.json), 'utf8');
      headers['content-type'] = 'application/json';
    } else if (body && 'csv' in body) {
      payload = Buffer.from(body.csv, 'utf8');
      headers['content-type'] = 'text/csv';
    }
    if (payload) headers['content-length'] = String(payload.length);
    return new Promise((resolve, reject) => {
      const req = http.request(`${this.base}${path}`, { method, agent: this.agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: res.statusCode ?? 0, json: text === '' ? null : JSON.parse(text) });
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(payload ?? undefined);
    });
  }

  get(path: string): Promise<ApiAnswer> {
    return this.request('GET', path);
  }

  /** A request that must answer 2xx; resolves the JSON, throws ApiError otherwise. */
  async expectOk(method: string, path: string, body?: { json: unknown } | { csv: string }): Promise<unknown> {
    const r = await this.request(method, path, body);
    if (r.status < 200 || r.status > 299) throw new ApiError(r.status, r.json, `${method} ${path}`);
    return r.json;
  }

  close(): void {
    this.agent.destroy();
  }
}
