/**
 * Typed CWMP (TR-069) messages, versions 1.0 to 1.4.
 *
 * This file is the contract between the codec (parse/build) and everything that
 * uses it (the ACS session engine, the CPE agent, the benchmarks). Field names
 * follow the BBF schema's element names in lowerCamelCase; every message is a
 * member of the discriminated union `CwmpMessage`, keyed by `method`, which is
 * the element's local name in the SOAP Body.
 *
 * Values that travel as text on the wire (parameter values, dateTimes) stay
 * strings here so that a parse-then-build round trip is byte-for-byte exact.
 */

/** CWMP protocol versions. 1.2, 1.3 and 1.4 share the `cwmp-1-2` namespace. */
export type CwmpVersion = '1.0' | '1.1' | '1.2' | '1.3' | '1.4';

export const CWMP_NAMESPACES = {
  '1.0': 'urn:dslforum-org:cwmp-1-0',
  '1.1': 'urn:dslforum-org:cwmp-1-1',
  '1.2': 'urn:dslforum-org:cwmp-1-2',
} as const;
export type CwmpNamespace = (typeof CWMP_NAMESPACES)[keyof typeof CWMP_NAMESPACES];

export const SOAP_ENV_NS = 'http://schemas.xmlsoap.org/soap/envelope/';
export const SOAP_ENC_NS = 'http://schemas.xmlsoap.org/soap/encoding/';
export const XSD_NS = 'http://www.w3.org/2001/XMLSchema';
export const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance';

/** The xsd types a parameter value may carry on the wire (TR-106 base types). */
export type XsdType =
  | 'string'
  | 'int'
  | 'unsignedInt'
  | 'long'
  | 'unsignedLong'
  | 'boolean'
  | 'dateTime'
  | 'base64'
  | 'hexBinary'
  | 'decimal';

/** TR-106 "Unknown Time". */
export const UNKNOWN_TIME = '0001-01-01T00:00:00Z';

export interface ParameterValueStruct {
  name: string;
  /** The value exactly as text (booleans as sent: "1", "true", ...). */
  value: string;
  type: XsdType;
  /** Set by the parser when the peer sent no xsi:type (type is then 'string'); the builder then omits xsi:type too. */
  untyped?: boolean;
  /**
   * Set by the parser when the peer sent an xsi:type the codec does not know (type is then 'string').
   * Informational only: the builder writes such a value as xsd:string (an unknown type would not validate).
   */
  rawType?: string;
}

export interface DeviceIdStruct {
  manufacturer: string;
  oui: string;
  productClass: string;
  serialNumber: string;
}

export interface EventStruct {
  eventCode: string;
  commandKey: string;
}

export interface ParameterInfoStruct {
  name: string;
  writable: boolean;
}

/** 0 off, 1 passive, 2 active; 3-6 lightweight variants (CWMP 1.4). */
export type NotificationValue = 0 | 1 | 2 | 3 | 4 | 5 | 6;

export interface ParameterAttributeStruct {
  name: string;
  notification: NotificationValue;
  accessList: string[];
}

export interface SetParameterAttributesStruct {
  name: string;
  notificationChange: boolean;
  notification: NotificationValue;
  accessListChange: boolean;
  accessList: string[];
}

export interface FaultStruct {
  faultCode: number;
  faultString: string;
}

export interface TimeWindowStruct {
  windowStart: number;
  windowEnd: number;
  /** "1 At Any Time" | "2 Immediately" | "3 When Idle" | "4 Confirmation Needed" | vendor "X ..." */
  windowMode: string;
  userMessage: string;
  maxRetries: number;
}

export interface QueuedTransferStruct {
  commandKey: string;
  /** 1 not yet started, 2 in progress, 3 completed */
  state: 1 | 2 | 3;
}

export interface AllQueuedTransferStruct extends QueuedTransferStruct {
  isDownload: boolean;
  fileType: string;
  fileSize: number;
  targetFileName: string;
}

export interface ArgStruct {
  name: string;
  value: string;
}

export interface OptionStruct {
  optionName: string;
  /** xs:unsignedInt on the wire; kept as its decimal text. */
  voucherSN: string;
  /** xs:unsignedInt 0..3 (schema: 0 disabled, 1 enabled, 2 enabled with expiration, 3 ...). */
  state: 0 | 1 | 2 | 3;
  /** xs:int 0..2 (schema enumeration). */
  mode: 0 | 1 | 2;
  startDate: string;
  expirationDate?: string;
  /** xs:int 0/1 on the wire. */
  isTransferable: boolean;
}

export type ChangeDUStateOperation =
  | {
      op: 'Install';
      url: string;
      uuid?: string;
      username?: string;
      password?: string;
      executionEnvRef?: string;
    }
  | {
      op: 'Update';
      uuid?: string;
      version?: string;
      url?: string;
      username?: string;
      password?: string;
    }
  | { op: 'Uninstall'; uuid: string; version?: string; executionEnvRef?: string };

export interface OpResultStruct {
  uuid: string;
  deploymentUnitRef: string;
  version: string;
  /** "Installed" | "Uninstalled" | "Failed" */
  currentState: string;
  resolved: boolean;
  executionUnitRefList: string;
  startTime: string;
  completeTime: string;
  fault: FaultStruct;
}

export interface AutonOpResultStruct extends OpResultStruct {
  /** "Install" | "Update" | "Uninstall" */
  operationPerformed: string;
}

// ---------------------------------------------------------------------------
// CPE methods (the ACS calls them) and their responses
// ---------------------------------------------------------------------------

export interface GetRPCMethods { method: 'GetRPCMethods' }
export interface GetRPCMethodsResponse { method: 'GetRPCMethodsResponse'; methodList: string[] }

export interface SetParameterValues {
  method: 'SetParameterValues';
  parameterList: ParameterValueStruct[];
  parameterKey: string;
}
export interface SetParameterValuesResponse { method: 'SetParameterValuesResponse'; status: 0 | 1 }

export interface GetParameterValues { method: 'GetParameterValues'; parameterNames: string[] }
export interface GetParameterValuesResponse {
  method: 'GetParameterValuesResponse';
  parameterList: ParameterValueStruct[];
}

export interface GetParameterNames { method: 'GetParameterNames'; parameterPath: string; nextLevel: boolean }
export interface GetParameterNamesResponse {
  method: 'GetParameterNamesResponse';
  parameterList: ParameterInfoStruct[];
}

export interface SetParameterAttributes {
  method: 'SetParameterAttributes';
  parameterList: SetParameterAttributesStruct[];
}
export interface SetParameterAttributesResponse { method: 'SetParameterAttributesResponse' }

export interface GetParameterAttributes { method: 'GetParameterAttributes'; parameterNames: string[] }
export interface GetParameterAttributesResponse {
  method: 'GetParameterAttributesResponse';
  parameterList: ParameterAttributeStruct[];
}

export interface AddObject { method: 'AddObject'; objectName: string; parameterKey: string }
export interface AddObjectResponse { method: 'AddObjectResponse'; instanceNumber: number; status: 0 | 1 }

export interface DeleteObject { method: 'DeleteObject'; objectName: string; parameterKey: string }
export interface DeleteObjectResponse { method: 'DeleteObjectResponse'; status: 0 | 1 }

export interface Reboot { method: 'Reboot'; commandKey: string }
export interface RebootResponse { method: 'RebootResponse' }

export interface Download {
  method: 'Download';
  commandKey: string;
  fileType: string;
  url: string;
  username: string;
  password: string;
  fileSize: number;
  targetFileName: string;
  delaySeconds: number;
  successURL: string;
  failureURL: string;
}
export interface DownloadResponse {
  method: 'DownloadResponse';
  status: 0 | 1;
  startTime: string;
  completeTime: string;
}

export interface Upload {
  method: 'Upload';
  commandKey: string;
  fileType: string;
  url: string;
  username: string;
  password: string;
  delaySeconds: number;
}
export interface UploadResponse {
  method: 'UploadResponse';
  status: 0 | 1;
  startTime: string;
  completeTime: string;
}

export interface FactoryReset { method: 'FactoryReset' }
export interface FactoryResetResponse { method: 'FactoryResetResponse' }

export interface ScheduleInform { method: 'ScheduleInform'; delaySeconds: number; commandKey: string }
export interface ScheduleInformResponse { method: 'ScheduleInformResponse' }

export interface GetQueuedTransfers { method: 'GetQueuedTransfers' }
export interface GetQueuedTransfersResponse {
  method: 'GetQueuedTransfersResponse';
  transferList: QueuedTransferStruct[];
}

export interface GetAllQueuedTransfers { method: 'GetAllQueuedTransfers' }
export interface GetAllQueuedTransfersResponse {
  method: 'GetAllQueuedTransfersResponse';
  transferList: AllQueuedTransferStruct[];
}

export interface ScheduleDownload {
  method: 'ScheduleDownload';
  commandKey: string;
  fileType: string;
  url: string;
  username: string;
  password: string;
  fileSize: number;
  targetFileName: string;
  /** one or two windows */
  timeWindowList: TimeWindowStruct[];
}
export interface ScheduleDownloadResponse { method: 'ScheduleDownloadResponse' }

export interface CancelTransfer { method: 'CancelTransfer'; commandKey: string }
export interface CancelTransferResponse { method: 'CancelTransferResponse' }

export interface ChangeDUState {
  method: 'ChangeDUState';
  operations: ChangeDUStateOperation[];
  commandKey: string;
}
export interface ChangeDUStateResponse { method: 'ChangeDUStateResponse' }

export interface SetVouchers { method: 'SetVouchers'; voucherList: string[] /* base64 */ }
export interface SetVouchersResponse { method: 'SetVouchersResponse' }

export interface GetOptions { method: 'GetOptions'; optionName: string }
export interface GetOptionsResponse { method: 'GetOptionsResponse'; optionList: OptionStruct[] }

// ---------------------------------------------------------------------------
// ACS methods (the CPE calls them) and their responses
// ---------------------------------------------------------------------------

export interface Inform {
  method: 'Inform';
  deviceId: DeviceIdStruct;
  event: EventStruct[];
  maxEnvelopes: number;
  currentTime: string;
  retryCount: number;
  parameterList: ParameterValueStruct[];
}
export interface InformResponse { method: 'InformResponse'; maxEnvelopes: number }

export interface TransferComplete {
  method: 'TransferComplete';
  commandKey: string;
  faultStruct: FaultStruct;
  startTime: string;
  completeTime: string;
}
export interface TransferCompleteResponse { method: 'TransferCompleteResponse' }

export interface AutonomousTransferComplete {
  method: 'AutonomousTransferComplete';
  announceURL: string;
  transferURL: string;
  isDownload: boolean;
  fileType: string;
  fileSize: number;
  targetFileName: string;
  faultStruct: FaultStruct;
  startTime: string;
  completeTime: string;
}
export interface AutonomousTransferCompleteResponse { method: 'AutonomousTransferCompleteResponse' }

export interface RequestDownload { method: 'RequestDownload'; fileType: string; fileTypeArg: ArgStruct[] }
export interface RequestDownloadResponse { method: 'RequestDownloadResponse' }

export interface Kicked { method: 'Kicked'; command: string; referer: string; arg: string; next: string }
export interface KickedResponse { method: 'KickedResponse'; nextURL: string }

export interface DUStateChangeComplete {
  method: 'DUStateChangeComplete';
  results: OpResultStruct[];
  commandKey: string;
}
export interface DUStateChangeCompleteResponse { method: 'DUStateChangeCompleteResponse' }

export interface AutonomousDUStateChangeComplete {
  method: 'AutonomousDUStateChangeComplete';
  results: AutonOpResultStruct[];
}
export interface AutonomousDUStateChangeCompleteResponse { method: 'AutonomousDUStateChangeCompleteResponse' }

// GetRPCMethods / GetRPCMethodsResponse are used in both directions.

// ---------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------

export interface SetParameterValuesFault {
  parameterName: string;
  faultCode: number;
  faultString: string;
}

/** A SOAP Fault carrying a cwmp:Fault detail. */
export interface SoapFault {
  method: 'Fault';
  /** SOAP faultcode: "Client" or "Server" (prefix stripped). */
  faultcode: 'Client' | 'Server';
  /** SOAP faultstring, "CWMP fault". */
  faultstring: string;
  /** cwmp:Fault FaultCode (8000-8899 from the ACS, 9000-9899 from the CPE). */
  faultCode: number;
  faultString: string;
  setParameterValuesFaults: SetParameterValuesFault[];
}

// ---------------------------------------------------------------------------
// Unions
// ---------------------------------------------------------------------------

/** Requests that the ACS sends to the CPE. */
export type CpeRequest =
  | GetRPCMethods
  | SetParameterValues
  | GetParameterValues
  | GetParameterNames
  | SetParameterAttributes
  | GetParameterAttributes
  | AddObject
  | DeleteObject
  | Reboot
  | Download
  | Upload
  | FactoryReset
  | ScheduleInform
  | GetQueuedTransfers
  | GetAllQueuedTransfers
  | ScheduleDownload
  | CancelTransfer
  | ChangeDUState
  | SetVouchers
  | GetOptions;

/** The CPE's responses to CpeRequest. */
export type CpeResponse =
  | GetRPCMethodsResponse
  | SetParameterValuesResponse
  | GetParameterValuesResponse
  | GetParameterNamesResponse
  | SetParameterAttributesResponse
  | GetParameterAttributesResponse
  | AddObjectResponse
  | DeleteObjectResponse
  | RebootResponse
  | DownloadResponse
  | UploadResponse
  | FactoryResetResponse
  | ScheduleInformResponse
  | GetQueuedTransfersResponse
  | GetAllQueuedTransfersResponse
  | ScheduleDownloadResponse
  | CancelTransferResponse
  | ChangeDUStateResponse
  | SetVouchersResponse
  | GetOptionsResponse;

/** Requests that the CPE sends to the ACS. */
export type AcsRequest =
  | Inform
  | GetRPCMethods
  | TransferComplete
  | AutonomousTransferComplete
  | RequestDownload
  | Kicked
  | DUStateChangeComplete
  | AutonomousDUStateChangeComplete;

/** The ACS's responses to AcsRequest. */
export type AcsResponse =
  | InformResponse
  | GetRPCMethodsResponse
  | TransferCompleteResponse
  | AutonomousTransferCompleteResponse
  | RequestDownloadResponse
  | KickedResponse
  | DUStateChangeCompleteResponse
  | AutonomousDUStateChangeCompleteResponse;

export type CwmpMessage = CpeRequest | CpeResponse | AcsRequest | AcsResponse | SoapFault;
export type CwmpMethodName = CwmpMessage['method'];

/** SOAP header elements of CWMP. */
export interface CwmpHeader {
  /** cwmp:ID (mustUnderstand="1"). */
  id?: string;
  /** cwmp:HoldRequests (mustUnderstand="1", ACS to CPE only). */
  holdRequests?: boolean;
  /**
   * cwmp:NoMoreRequests (deprecated). Parsed when a peer sends it, but no BBF schema
   * (cwmp-1-0 .. cwmp-1-4) declares it, so buildEnvelope refuses it (UNSUPPORTED_HEADER).
   */
  noMoreRequests?: boolean;
  /** cwmp:SessionTimeout (1.3+, mustUnderstand="0"), seconds. */
  sessionTimeout?: number;
  /** cwmp:SupportedCWMPVersions (1.4, mustUnderstand="0", CPE to ACS in Inform), e.g. "1.0,1.1,1.2,1.3,1.4". */
  supportedCwmpVersions?: string;
  /** cwmp:UseCWMPVersion (1.4, mustUnderstand="1", ACS to CPE in InformResponse), e.g. "1.4". */
  useCwmpVersion?: string;
}

/** A whole SOAP envelope. `body` is null for an empty HTTP body (the empty POST / 204). */
export interface CwmpEnvelope {
  header: CwmpHeader;
  body: CwmpMessage | null;
}
