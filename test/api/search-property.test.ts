/**
 * Property test of device search by parameter value through the API: for random filters, the
 * devices the API returns are exactly those a brute-force model selects, and paging with the cursor
 * visits each of them once.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { enc, seedDevice, setup, type Harness } from './helpers.ts';

const PARAM = 'Device.ManagementServer.PeriodicInformInterval';
const DEVICE_COUNT = 24;
/** Stored values: numbers of different lengths (so text and numeric orders differ) and non-numbers. */
const VALUES = ['0', '5', '30', '60', '300', '600', '3600', '86400', '7', '45', '120', 'n/a', '', '1e3', '-5', '12.5'];

type Op = 'eq' | 'ne' | 'prefix' | 'lt' | 'gt' | 'lte' | 'gte';

function numeric(v: string): number | null {
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v.trim()) ? Number(v) : null;
}

/** The documented semantics of a filter, evaluated directly. */
function matches(stored: string, op: Op, value: string | number): boolean {
  if (op === 'eq') return stored === String(value);
  if (op === 'ne') return stored !== String(value);
  if (op === 'prefix') return stored.startsWith(String(value));
  let a: number | string;
  let b: number | string;
  if (typeof value === 'number') {
    const n = numeric(stored);
    if (n === null) return false;
    [a, b] = [n, value];
  } else {
    [a, b] = [stored, value];
  }
  switch (op) {
    case 'lt':
      return a < b;
    case 'gt':
      return a > b;
    case 'lte':
      return a <= b;
    case 'gte':
      return a >= b;
  }
}

describe('device search by parameter value (property)', () => {
  let h: Harness;
  const stored = new Map<string, string>();
  before(async () => {
    h = await setup();
    for (let i = 0; i < DEVICE_COUNT; i++) {
      const value = VALUES[i % VALUES.length];
      const id = await seedDevice(h.store, { productClass: 'HT502', serialNumber: `Q${String(i).padStart(2, '0')}` }, { [PARAM]: value });
      stored.set(id, value);
    }
  });
  after(() => h.close());

  it('returns exactly the devices the filter semantics select, in id order, across cursor pages', async () => {
    const opArb = fc.constantFrom<Op>('eq', 'ne', 'prefix', 'lt', 'gt', 'lte', 'gte');
    const textArb = fc.oneof(
      fc.constantFrom(...VALUES.filter((v) => v !== '')),
      fc.integer({ min: -10, max: 100000 }).map(String),
      fc.constantFrom('3', '6', '1', 'n', '').map((v) => JSON.stringify(v)),
    );
    await fc.assert(
      fc.asyncProperty(opArb, textArb, fc.integer({ min: 1, max: 10 }), async (op, text, limit) => {
        // The documented syntax: quoted = JSON string; an unquoted number is a number for ordering ops.
        const ordering = ['lt', 'gt', 'lte', 'gte'].includes(op);
        const value: string | number = text.startsWith('"') ? (JSON.parse(text) as string) : ordering && /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(text) ? Number(text) : text;
        const expected = [...stored].filter(([, v]) => matches(v, op, value)).map(([id]) => id).sort();
        const where = encodeURIComponent(`${PARAM} ${op} ${text}`);
        const seen: string[] = [];
        let cursor: string | null = null;
        let total = -1;
        for (let page = 0; page < DEVICE_COUNT + 1; page++) {
          const res = await h.call('GET', `/api/devices?where=${where}&limit=${limit}${cursor ? `&cursor=${enc(cursor)}` : ''}`, { token: h.tokens.viewer });
          assert.equal(res.statusCode, 200, res.body);
          const body = res.json() as { devices: { id: string }[]; total: number; nextCursor: string | null };
          total = body.total;
          seen.push(...body.devices.map((d) => d.id));
          cursor = body.nextCursor;
          if (cursor === null) break;
        }
        assert.deepEqual(seen, expected, `${op} ${text}`);
        assert.equal(total, expected.length);
      }),
      { numRuns: 120 },
    );
  });
});
