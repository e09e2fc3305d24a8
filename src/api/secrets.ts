/**
 * What counts as a secret in API answers, and how it is hidden.
 *
 * Device credentials (ACS and connection request passwords) are the obvious secrets, but the same
 * values can also travel in the parameter tree (`Device.ManagementServer.ConnectionRequestPassword`),
 * in a setParameterValues task that changes them, in its result, and in file-server credentials of
 * download/upload tasks. All of them are replaced by `REDACTED` unless an admin asked for secrets.
 */
import type { Device, JsonValue, StoredParameter, Task } from '../store/types.ts';

/** What a hidden secret value reads as. */
export const REDACTED = '[redacted]';

/**
 * Leaf names that hold secrets in TR-098/TR-104/TR-106/TR-181 and Grandstream's vendor extensions
 * (`AuthPassword`, `ConnectionRequestPassword`, `STUNPassword`, `KeyPassphrase`, `PreSharedKey`,
 * `X_GRANDSTREAM_AdminLoginPassword`, ...). Matching the leaf name keeps this independent of the root.
 */
const SECRET_LEAF = /(password|passphrase|presharedkey|secret|privatekey)$/i;

/** JSON keys whose values are secrets wherever they appear (task payloads, audit details). */
const SECRET_KEY = /^(password|secret|token|acsPassword|connectionRequestPassword|authorization)$/i;

/** Returns true when a parameter with this full name holds a secret value. */
export function isSecretParameterName(name: string): boolean {
  const leaf = name.endsWith('.') ? '' : name.slice(name.lastIndexOf('.') + 1);
  return SECRET_LEAF.test(leaf);
}

/** The API shape of a device's credentials: usernames, whether each password is set, and the passwords only on request. */
export interface ApiCredentials {
  acsUsername: string | null;
  connectionRequestUsername: string | null;
  acsPasswordSet: boolean;
  connectionRequestPasswordSet: boolean;
  acsPassword?: string | null;
  connectionRequestPassword?: string | null;
}

export type ApiDevice = Omit<Device, 'credentials'> & { credentials: ApiCredentials };

/** Returns the API view of a device: passwords only when `includeSecrets` (the caller checked the role). */
export function deviceView(device: Device, includeSecrets: boolean): ApiDevice {
  const { credentials, ...rest } = device;
  const view: ApiCredentials = {
    acsUsername: credentials.acsUsername,
    connectionRequestUsername: credentials.connectionRequestUsername,
    acsPasswordSet: credentials.acsPassword !== null && credentials.acsPassword !== '',
    connectionRequestPasswordSet: credentials.connectionRequestPassword !== null && credentials.connectionRequestPassword !== '',
  };
  if (includeSecrets) {
    view.acsPassword = credentials.acsPassword;
    view.connectionRequestPassword = credentials.connectionRequestPassword;
  }
  return { ...rest, credentials: view };
}

/** Returns the parameter with its value hidden when it is a secret (an empty value stays visible as empty). */
export function parameterView(parameter: StoredParameter, includeSecrets: boolean): StoredParameter {
  if (includeSecrets || parameter.value === null || parameter.value === '' || !isSecretParameterName(parameter.name)) {
    return parameter;
  }
  return { ...parameter, value: REDACTED };
}

/**
 * Returns a deep copy of a JSON value where every secret is replaced by `REDACTED`: values under
 * secret keys (`password`, `token`...), values keyed by a secret parameter name, and `value` fields of objects whose `name` is a secret
 * parameter name (setParameterValues payloads and getParameterValues results).
 */
export function redactJson(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(redactJson);
  if (value === null || typeof value !== 'object') return value;
  const secretNamed = typeof value.name === 'string' && isSecretParameterName(value.name);
  const out: { [key: string]: JsonValue } = {};
  for (const [key, inner] of Object.entries(value)) {
    if (SECRET_KEY.test(key) && inner !== null && inner !== '') out[key] = REDACTED;
    else if (secretNamed && key === 'value' && inner !== null && inner !== '') out[key] = REDACTED;
    // Results may also be maps keyed by full parameter names.
    else if (key.includes('.') && isSecretParameterName(key) && typeof inner === 'string' && inner !== '') out[key] = REDACTED;
    else out[key] = redactJson(inner);
  }
  return out;
}

/** Returns the task with secrets in its payload and result hidden unless `includeSecrets`. */
export function taskView(task: Task, includeSecrets: boolean): Task {
  if (includeSecrets) return task;
  return {
    ...task,
    payload: redactJson(task.payload) as Task['payload'],
    result: task.result === null ? null : redactJson(task.result),
  };
}
