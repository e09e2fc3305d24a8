/**
 * Request validation with TypeBox instead of Fastify's default Ajv setup.
 *
 * Why: the messages name the field (`body /parameters/0/name: Expected required property`), unknown
 * body fields are rejected instead of silently removed, query strings are converted (numbers,
 * booleans, repeated keys to arrays) exactly as their schema says, and the task body is checked by
 * the ACS core's own `validateTaskPayload`, whose messages are written per task type (an Ajv union
 * error would only say "must match a schema in anyOf").
 */
import type { FastifySchemaCompiler } from 'fastify';
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { TaskPayloadSchema, TaskValidationError, validateTaskPayload } from '../acs/tasks/schema.ts';
import { apiError, type ApiError } from './errors.ts';

/** Issues listed in one message at most (the rest are counted). */
const MAX_LISTED_ISSUES = 5;

/** One problem found in a request part. */
export interface ValidationIssue {
  /** JSON pointer inside the part, e.g. `/parameters/0/name` ('' for the part itself). */
  path: string;
  message: string;
}

const PART_NAMES: Record<string, string> = {
  body: 'body',
  querystring: 'query string',
  params: 'path parameter',
  headers: 'header',
};

/** Returns the VALIDATION_FAILED error for a list of issues. */
export function validationError(part: string, issues: ValidationIssue[]): ApiError {
  const partName = PART_NAMES[part] ?? part;
  const listed = issues.slice(0, MAX_LISTED_ISSUES).map((i) => `${i.path || '(whole ' + partName + ')'}: ${i.message}`);
  const more = issues.length > MAX_LISTED_ISSUES ? ` (and ${issues.length - MAX_LISTED_ISSUES} more)` : '';
  return apiError('VALIDATION_FAILED', { part: partName, issues: listed.join('; ') + more }, { part, issues });
}

/** Returns the INVALID_TASK error for a TaskValidationError. */
export function invalidTaskError(err: TaskValidationError): ApiError {
  const issues = dedupe(err.issues).map((i) => `${i.path || '(whole task)'}: ${i.message}`).join('; ');
  return apiError('INVALID_TASK', { issues }, { issues: dedupe(err.issues) });
}

/** True for the task body schema, however Fastify copied it. */
function isTaskPayloadSchema(schema: unknown): boolean {
  return schema === TaskPayloadSchema || (typeof schema === 'object' && schema !== null && (schema as { title?: unknown }).title === TaskPayloadSchema.title);
}

/** Keeps only the first issue per path: TypeBox reports a union mismatch once per branch. */
function dedupe(issues: ValidationIssue[]): ValidationIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => (seen.has(i.path) ? false : (seen.add(i.path), true)));
}

/**
 * The validator compiler of the API plugin: returns, per route part, a function that answers
 * `{ value }` (converted, defaults applied) or `{ error }` (an ApiError with status 400).
 */
export const typeboxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  if (httpPart === 'body' && isTaskPayloadSchema(schema)) {
    return (data: unknown) => {
      try {
        return { value: validateTaskPayload(data) };
      } catch (err) {
        if (err instanceof TaskValidationError) return { error: invalidTaskError(err) };
        throw err;
      }
    };
  }
  const checker = TypeCompiler.Compile(schema);
  const convert = httpPart !== 'body';
  return (data: unknown) => {
    // Query strings, params and headers arrive as text: convert them as the schema says.
    // Bodies are JSON already and are never coerced ("5" stays a string).
    let value = data === undefined && httpPart === 'body' ? data : Value.Clone(data);
    if (convert) value = Value.Convert(schema, Value.Default(schema, value));
    else if (value !== undefined) value = Value.Default(schema, value);
    if (checker.Check(value)) return { value };
    const issues = dedupe([...checker.Errors(value)].map((e) => ({ path: e.path, message: e.message })));
    return { error: validationError(httpPart ?? 'request', issues) };
  };
};
