/**
 * Errors thrown by the data model.
 *
 * RPC refusals are the codec's `CwmpFaultError` (its `fault` is the SoapFault to send).
 * Everything else (unknown profile, broken profile file, bad config file, bad snapshot, bad
 * local write) has its own typed error.
 */

import type { SetParameterValuesFault } from '../cwmp/types.ts';
import { CwmpFaultError, faultText } from '../cwmp/faults.ts';

export { CwmpFaultError, FaultCode } from '../cwmp/faults.ts';

/**
 * Builds the CWMP fault an RPC answers with. `detail` is appended to the standard fault
 * string (e.g. the offending parameter name). Returns a CwmpFaultError to throw.
 */
export function rpcFault(code: number, detail?: string, setParameterValuesFaults?: SetParameterValuesFault[]): CwmpFaultError {
  return new CwmpFaultError(code, detail ? `${faultText(code)}: ${detail}` : faultText(code), setParameterValuesFaults);
}

/** One SetParameterValuesFault entry with the standard text plus a reason. */
export function spvFault(parameterName: string, code: number, reason?: string): SetParameterValuesFault {
  return { parameterName, faultCode: code, faultString: reason ? `${faultText(code)}: ${reason}` : faultText(code) };
}

/** `loadProfile` was asked for a model that has no profile file. */
export class UnknownProfileError extends Error {
  override readonly name = 'UnknownProfileError';
  constructor(
    readonly model: string,
    readonly known: string[],
  ) {
    super(`unknown device model "${model}"; known models: ${known.join(', ')}`);
  }
}

/** A profile file is not valid (schema or conformance problem). */
export class ProfileError extends Error {
  override readonly name = 'ProfileError';
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`invalid device profile ${file}: ${problems.join('; ')}`);
  }
}

export type ConfigFileErrorCode = 'MALFORMED_XML' | 'NOT_GS_PROVISION' | 'UNSUPPORTED_VERSION' | 'MAC_MISMATCH';

/** A Grandstream configuration file that cannot be applied at all. */
export class ConfigFileError extends Error {
  override readonly name = 'ConfigFileError';
  constructor(
    readonly code: ConfigFileErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/** A snapshot that does not fit the profile (wrong model, bad shape, unknown paths). */
export class SnapshotError extends Error {
  override readonly name = 'SnapshotError';
}

/** A device-side write (`setLocal`, `addLocalInstance`...) that names no parameter or breaks its syntax. */
export class LocalWriteError extends Error {
  override readonly name = 'LocalWriteError';
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}
