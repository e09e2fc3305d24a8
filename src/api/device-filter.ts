/**
 * Parameter-value filters of `GET /api/devices?where=...`.
 *
 * Syntax: `<parameter name> <op> <value>`, e.g. `Device.DeviceInfo.SoftwareVersion prefix 1.0.`,
 * `Device.ManagementServer.PeriodicInformInterval gte 300`. Parameter names never contain white
 * space, so the first space ends the name; the op is one word; the value is the rest of the string
 * (it may contain spaces). For `lt`/`gt`/`lte`/`gte` a value that reads as a number compares
 * numerically; wrap it in double quotes (`"10"`) to compare text instead. Quotes are JSON strings, so
 * `"a \"b\""` works too.
 */
import type { ParameterCondition } from '../store/types.ts';
import { apiError } from './errors.ts';

export const FILTER_OPS = ['eq', 'ne', 'prefix', 'lt', 'gt', 'lte', 'gte'] as const;
export type FilterOp = (typeof FILTER_OPS)[number];
const ORDERING_OPS: ReadonlySet<FilterOp> = new Set(['lt', 'gt', 'lte', 'gte']);
const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/**
 * Parses one `where` expression.
 * @returns the store's condition.
 * @throws ApiError INVALID_FILTER naming the problem.
 */
export function parseParameterFilter(expression: string): ParameterCondition {
  const fail = (reason: string) => apiError('INVALID_FILTER', { filter: expression, reason });
  const firstSpace = expression.indexOf(' ');
  if (firstSpace <= 0) throw fail('expected "<parameter name> <op> <value>"');
  const name = expression.slice(0, firstSpace);
  const rest = expression.slice(firstSpace + 1);
  const secondSpace = rest.indexOf(' ');
  const opText = secondSpace < 0 ? rest : rest.slice(0, secondSpace);
  if (!(FILTER_OPS as readonly string[]).includes(opText)) {
    throw fail(`unknown op "${opText}", expected one of ${FILTER_OPS.join(', ')}`);
  }
  const op = opText as FilterOp;
  if (secondSpace < 0) throw fail('the value is missing (use "" for an empty string)');
  const rawValue = rest.slice(secondSpace + 1);
  if (name.endsWith('.')) throw fail('the name is an object path; filters compare parameter values');

  if (rawValue.startsWith('"')) {
    let text: unknown;
    try {
      text = JSON.parse(rawValue);
    } catch {
      throw fail('the quoted value is not a valid JSON string');
    }
    if (typeof text !== 'string') throw fail('the quoted value is not a valid JSON string');
    return { name, op, value: text };
  }
  if (ORDERING_OPS.has(op) && NUMBER.test(rawValue)) {
    return { name, op, value: Number(rawValue) };
  }
  return { name, op, value: rawValue };
}
