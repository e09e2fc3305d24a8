/**
 * Column lists of every read. Never `SELECT *`: a named prepared statement whose result columns
 * change (a newer Switchboard migrating the shared database during a rolling upgrade) fails with
 * "cached plan must not change result type", while an explicit list keeps working.
 */
export const DEVICE_COLUMNS =
  'id, manufacturer, oui, product_class, serial_number, first_contact, last_contact, last_boot, last_bootstrap, source_address, software_version, hardware_version, connection_request_url, udp_connection_request_address, cwmp_version, tags, acs_username, acs_password, cr_username, cr_password';
export const TASK_COLUMNS =
  'id, device_id, type, payload, status, result, fault_code, fault_string, attempts, max_attempts, next_attempt_at, expires_at, created_at, started_at, finished_at, connection_request';
export const SESSION_COLUMNS = 'id, device_id, started_at, ended_at, events, remote_address, cwmp_version, outcome, rpc_count, detail';
export const FAULT_COLUMNS = 'id, device_id, task_id, source, code, message, detail, at';
export const TOKEN_COLUMNS = 'id, name, role, hash, created_at, last_used_at, revoked_at';
export const AUDIT_COLUMNS = 'id, at, actor, action, target, detail';
