/**
 * The CWMP fault code registry (TR-069 fault tables; code lists and names as in
 * the BBF schemas' documentation, SOAP faultcode Client/Server per the TR-069
 * fault table) and helpers to raise and build faults.
 */
import type { SetParameterValuesFault, SoapFault } from './types.ts';

export type SoapFaultCode = 'Client' | 'Server';

export interface FaultInfo {
  code: number;
  /** Standard fault string. */
  text: string;
  /** SOAP faultcode: Client = the request was wrong, Server = the receiver could not carry it out. */
  soapFaultcode: SoapFaultCode;
  /** Who raises it. */
  origin: 'CPE' | 'ACS';
}

/** SOAP faultstring of every CWMP fault. */
export const CWMP_FAULTSTRING = 'CWMP fault';

const row = (code: number, text: string, soapFaultcode: SoapFaultCode): FaultInfo => ({
  code,
  text,
  soapFaultcode,
  origin: code >= 9000 ? 'CPE' : 'ACS',
});

/** Every standard fault code (CPE 9000-9032, ACS 8000-8006). */
export const FAULTS: ReadonlyMap<number, FaultInfo> = new Map(
  [
    row(8000, 'Method not supported', 'Server'),
    row(8001, 'Request denied (no reason specified)', 'Server'),
    row(8002, 'Internal error', 'Server'),
    row(8003, 'Invalid arguments', 'Client'),
    row(8004, 'Resources exceeded', 'Server'),
    row(8005, 'Retry request', 'Server'),
    row(8006, 'ACS version incompatible with CPE', 'Server'),
    row(9000, 'Method not supported', 'Server'),
    row(9001, 'Request denied (no reason specified)', 'Server'),
    row(9002, 'Internal error', 'Server'),
    row(9003, 'Invalid arguments', 'Client'),
    row(9004, 'Resources exceeded', 'Server'),
    row(9005, 'Invalid parameter name', 'Client'),
    row(9006, 'Invalid parameter type', 'Client'),
    row(9007, 'Invalid parameter value', 'Client'),
    row(9008, 'Attempt to set a non-writable parameter', 'Client'),
    row(9009, 'Notification request rejected', 'Server'),
    row(9010, 'File transfer failure', 'Server'),
    row(9011, 'Upload failure', 'Server'),
    row(9012, 'File transfer server authentication failure', 'Server'),
    row(9013, 'Unsupported protocol for file transfer', 'Server'),
    row(9014, 'File transfer failure: unable to join multicast group', 'Server'),
    row(9015, 'File transfer failure: unable to contact file server', 'Server'),
    row(9016, 'File transfer failure: unable to access file', 'Server'),
    row(9017, 'File transfer failure: unable to complete download', 'Server'),
    row(9018, 'File transfer failure: file corrupted', 'Server'),
    row(9019, 'File transfer failure: file authentication failure', 'Server'),
    row(9020, 'File transfer failure: unable to complete download within specified time windows', 'Server'),
    row(9021, 'Cancelation of file transfer not permitted in current transfer state', 'Client'),
    row(9022, 'Invalid UUID format', 'Client'),
    row(9023, 'Unknown Execution Environment', 'Client'),
    row(9024, 'Disabled Execution Environment', 'Client'),
    row(9025, 'Deployment Unit to Execution Environment mismatch', 'Client'),
    row(9026, 'Duplicate Deployment Unit', 'Client'),
    row(9027, 'System resources exceeded', 'Client'),
    row(9028, 'Unknown Deployment Unit', 'Client'),
    row(9029, 'Invalid Deployment Unit state', 'Client'),
    row(9030, 'Invalid Deployment Unit Update: Downgrade not permitted', 'Client'),
    row(9031, 'Invalid Deployment Unit Update: Version not specified', 'Client'),
    row(9032, 'Invalid Deployment Unit Update: Version already exists', 'Client'),
  ].map((r) => [r.code, r] as const),
);

/** Named constants for the fault codes handlers raise most. */
export const FaultCode = {
  ACS_METHOD_NOT_SUPPORTED: 8000,
  ACS_REQUEST_DENIED: 8001,
  ACS_INTERNAL_ERROR: 8002,
  ACS_INVALID_ARGUMENTS: 8003,
  ACS_RESOURCES_EXCEEDED: 8004,
  ACS_RETRY_REQUEST: 8005,
  ACS_VERSION_INCOMPATIBLE: 8006,
  METHOD_NOT_SUPPORTED: 9000,
  REQUEST_DENIED: 9001,
  INTERNAL_ERROR: 9002,
  INVALID_ARGUMENTS: 9003,
  RESOURCES_EXCEEDED: 9004,
  INVALID_PARAMETER_NAME: 9005,
  INVALID_PARAMETER_TYPE: 9006,
  INVALID_PARAMETER_VALUE: 9007,
  NON_WRITABLE_PARAMETER: 9008,
  NOTIFICATION_REJECTED: 9009,
  DOWNLOAD_FAILURE: 9010,
  UPLOAD_FAILURE: 9011,
  FILE_SERVER_AUTH_FAILURE: 9012,
  UNSUPPORTED_TRANSFER_PROTOCOL: 9013,
  CANCEL_NOT_PERMITTED: 9021,
} as const;

/**
 * Standard text of a fault code; vendor codes (8800-8899, 9800-9899) and unknown
 * codes get a generic text. Returns the text.
 */
export function faultText(code: number): string {
  const info = FAULTS.get(code);
  if (info) return info.text;
  if ((code >= 9800 && code <= 9899) || (code >= 8800 && code <= 8899)) return 'Vendor defined fault';
  return 'Unknown fault';
}

/** SOAP faultcode for a CWMP fault code: the registry's, else Server. */
export function soapFaultcodeFor(code: number): SoapFaultCode {
  return FAULTS.get(code)?.soapFaultcode ?? 'Server';
}

/**
 * Builds a SoapFault value for `code` (faultcode from the registry, faultstring
 * "CWMP fault", FaultString = `faultString` or the standard text).
 * Returns the SoapFault (a CwmpMessage ready for buildEnvelope).
 */
export function makeFault(code: number, faultString?: string, spvFaults: SetParameterValuesFault[] = []): SoapFault {
  return {
    method: 'Fault',
    faultcode: soapFaultcodeFor(code),
    faultstring: CWMP_FAULTSTRING,
    faultCode: code,
    faultString: faultString ?? faultText(code),
    setParameterValuesFaults: spvFaults,
  };
}

/**
 * Thrown by RPC handlers to answer with a CWMP fault instead of a response.
 * `fault` is the SoapFault to send.
 */
export class CwmpFaultError extends Error {
  override readonly name = 'CwmpFaultError';
  readonly fault: SoapFault;

  constructor(code: number, faultString?: string, spvFaults?: SetParameterValuesFault[]) {
    const fault = makeFault(code, faultString, spvFaults);
    super(`CWMP fault ${code}: ${fault.faultString}`);
    this.fault = fault;
  }

  get code(): number {
    return this.fault.faultCode;
  }
}
