/**
 * One realistic sample of every CWMP message body, for tests and benchmarks.
 * Each sample is valid in every version whose schema has the method (so it
 * sticks to the CWMP 1.0 value lists where the method exists in 1.0).
 */
import type { CwmpMessage, CwmpMethodName, Inform, ParameterValueStruct } from './types.ts';

const T0 = '2025-03-01T12:00:00Z';
const T1 = '2025-03-01T12:00:42Z';
const UUID = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';

/** A Grandstream GXP2140-like Inform (BOOT + PERIODIC, the forced-inform parameters of TR-098). */
export function sampleInform(): Inform {
  const p = (name: string, value: string, type: ParameterValueStruct['type'] = 'string'): ParameterValueStruct => ({ name, value, type });
  return {
    method: 'Inform',
    deviceId: { manufacturer: 'Grandstream', oui: '000B82', productClass: 'GXP2140', serialNumber: '20EZ8F6A05012345' },
    event: [
      { eventCode: '1 BOOT', commandKey: '' },
      { eventCode: '2 PERIODIC', commandKey: '' },
    ],
    maxEnvelopes: 1,
    currentTime: '2025-03-01T12:00:00+01:00',
    retryCount: 0,
    parameterList: [
      p('InternetGatewayDevice.DeviceSummary', 'InternetGatewayDevice:1.1[](Baseline:1), VoiceService:1.0[1](Endpoint:1, SIPEndpoint:1)'),
      p('InternetGatewayDevice.DeviceInfo.HardwareVersion', 'V1.6A'),
      p('InternetGatewayDevice.DeviceInfo.SoftwareVersion', '1.0.11.74'),
      p('InternetGatewayDevice.DeviceInfo.ProvisioningCode', ''),
      p('InternetGatewayDevice.DeviceInfo.SpecVersion', '1.0'),
      p('InternetGatewayDevice.ManagementServer.ConnectionRequestURL', 'http://192.168.1.23:7547/cr?x=1&y=2'),
      p('InternetGatewayDevice.ManagementServer.ParameterKey', ''),
      p('InternetGatewayDevice.ManagementServer.PeriodicInformInterval', '86400', 'unsignedInt'),
      p('InternetGatewayDevice.ManagementServer.PeriodicInformEnable', '1', 'boolean'),
      p('InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.ExternalIPAddress', '192.168.1.23'),
    ],
  };
}

/** A GetParameterValuesResponse with `n` parameters of mixed types (the 1,000-parameter benchmark case). */
export function sampleGpvResponse(n: number): CwmpMessage {
  const list: ParameterValueStruct[] = [];
  for (let i = 1; i <= n; i++) {
    const base = `InternetGatewayDevice.Services.VoiceService.1.VoiceProfile.1.Line.${i}.`;
    switch (i % 4) {
      case 0:
        list.push({ name: `${base}Enable`, value: 'Enabled', type: 'string' });
        break;
      case 1:
        list.push({ name: `${base}SIP.AuthUserName`, value: `user${i} <ext> & "co"`, type: 'string' });
        break;
      case 2:
        list.push({ name: `${base}Stats.PacketsSent`, value: String(i * 1000), type: 'unsignedInt' });
        break;
      default:
        list.push({ name: `${base}CallingFeatures.CallWaitingEnable`, value: 'true', type: 'boolean' });
    }
  }
  return { method: 'GetParameterValuesResponse', parameterList: list };
}

const OP_RESULT = {
  uuid: UUID,
  deploymentUnitRef: 'Device.SoftwareModules.DeploymentUnit.1',
  version: '1.2.3',
  currentState: 'Installed',
  resolved: true,
  executionUnitRefList: 'Device.SoftwareModules.ExecutionUnit.1',
  startTime: T0,
  completeTime: T1,
  fault: { faultCode: 0, faultString: '' },
};

/** One sample body per method name (soap-env:Fault included, under 'Fault'). */
export const SAMPLE_MESSAGES: Readonly<Record<CwmpMethodName, CwmpMessage>> = {
  GetRPCMethods: { method: 'GetRPCMethods' },
  GetRPCMethodsResponse: { method: 'GetRPCMethodsResponse', methodList: ['GetRPCMethods', 'GetParameterValues', 'SetParameterValues', 'Reboot'] },
  SetParameterValues: {
    method: 'SetParameterValues',
    parameterList: [
      { name: 'InternetGatewayDevice.ManagementServer.PeriodicInformInterval', value: '3600', type: 'unsignedInt' },
      { name: 'InternetGatewayDevice.Services.VoiceService.1.VoiceProfile.1.Line.1.SIP.AuthPassword', value: 's3cr&t<>"\'', type: 'string' },
      { name: 'InternetGatewayDevice.Time.NTPServer1', value: 'pool.ntp.org', type: 'string' },
    ],
    parameterKey: 'task-42',
  },
  SetParameterValuesResponse: { method: 'SetParameterValuesResponse', status: 0 },
  GetParameterValues: { method: 'GetParameterValues', parameterNames: ['InternetGatewayDevice.DeviceInfo.', 'InternetGatewayDevice.ManagementServer.URL'] },
  GetParameterValuesResponse: sampleGpvResponse(4),
  GetParameterNames: { method: 'GetParameterNames', parameterPath: 'InternetGatewayDevice.', nextLevel: true },
  GetParameterNamesResponse: {
    method: 'GetParameterNamesResponse',
    parameterList: [
      { name: 'InternetGatewayDevice.DeviceInfo.', writable: false },
      { name: 'InternetGatewayDevice.ManagementServer.URL', writable: true },
    ],
  },
  SetParameterAttributes: {
    method: 'SetParameterAttributes',
    parameterList: [
      { name: 'InternetGatewayDevice.DeviceInfo.SoftwareVersion', notificationChange: true, notification: 2, accessListChange: false, accessList: [] },
      { name: 'InternetGatewayDevice.ManagementServer.URL', notificationChange: false, notification: 0, accessListChange: true, accessList: ['Subscriber'] },
    ],
  },
  SetParameterAttributesResponse: { method: 'SetParameterAttributesResponse' },
  GetParameterAttributes: { method: 'GetParameterAttributes', parameterNames: ['InternetGatewayDevice.DeviceInfo.SoftwareVersion'] },
  GetParameterAttributesResponse: {
    method: 'GetParameterAttributesResponse',
    parameterList: [{ name: 'InternetGatewayDevice.DeviceInfo.SoftwareVersion', notification: 2, accessList: ['Subscriber'] }],
  },
  AddObject: { method: 'AddObject', objectName: 'InternetGatewayDevice.Services.VoiceService.1.VoiceProfile.', parameterKey: 'k1' },
  AddObjectResponse: { method: 'AddObjectResponse', instanceNumber: 2, status: 0 },
  DeleteObject: { method: 'DeleteObject', objectName: 'InternetGatewayDevice.Services.VoiceService.1.VoiceProfile.2.', parameterKey: 'k2' },
  DeleteObjectResponse: { method: 'DeleteObjectResponse', status: 1 },
  Reboot: { method: 'Reboot', commandKey: 'reboot-1' },
  RebootResponse: { method: 'RebootResponse' },
  Download: {
    method: 'Download',
    commandKey: 'fw-1.0.11.80',
    fileType: '1 Firmware Upgrade Image',
    url: 'https://fw.example.net/gxp2140fw.bin',
    username: 'cpe',
    password: 'pw',
    fileSize: 12345678,
    targetFileName: 'gxp2140fw.bin',
    delaySeconds: 0,
    successURL: '',
    failureURL: '',
  },
  DownloadResponse: { method: 'DownloadResponse', status: 1, startTime: '0001-01-01T00:00:00Z', completeTime: '0001-01-01T00:00:00Z' },
  Upload: {
    method: 'Upload',
    commandKey: 'up-1',
    fileType: '2 Vendor Log File',
    url: 'https://acs.example.net/upload/log',
    username: '',
    password: '',
    delaySeconds: 5,
  },
  UploadResponse: { method: 'UploadResponse', status: 0, startTime: T0, completeTime: T1 },
  FactoryReset: { method: 'FactoryReset' },
  FactoryResetResponse: { method: 'FactoryResetResponse' },
  ScheduleInform: { method: 'ScheduleInform', delaySeconds: 60, commandKey: 'later' },
  ScheduleInformResponse: { method: 'ScheduleInformResponse' },
  GetQueuedTransfers: { method: 'GetQueuedTransfers' },
  GetQueuedTransfersResponse: {
    method: 'GetQueuedTransfersResponse',
    transferList: [
      { commandKey: 'fw-1', state: 2 },
      { commandKey: 'cfg-2', state: 1 },
    ],
  },
  GetAllQueuedTransfers: { method: 'GetAllQueuedTransfers' },
  GetAllQueuedTransfersResponse: {
    method: 'GetAllQueuedTransfersResponse',
    transferList: [{ commandKey: 'fw-1', state: 2, isDownload: true, fileType: '1 Firmware Upgrade Image', fileSize: 1000, targetFileName: 'fw.bin' }],
  },
  ScheduleDownload: {
    method: 'ScheduleDownload',
    commandKey: 'sd-1',
    fileType: '1 Firmware Upgrade Image',
    url: 'https://fw.example.net/fw.bin',
    username: '',
    password: '',
    fileSize: 0,
    targetFileName: '',
    timeWindowList: [
      { windowStart: 0, windowEnd: 3600, windowMode: '1 At Any Time', userMessage: '', maxRetries: -1 },
      { windowStart: 7200, windowEnd: 10800, windowMode: '3 When Idle', userMessage: 'Update tonight', maxRetries: 3 },
    ],
  },
  ScheduleDownloadResponse: { method: 'ScheduleDownloadResponse' },
  CancelTransfer: { method: 'CancelTransfer', commandKey: 'sd-1' },
  CancelTransferResponse: { method: 'CancelTransferResponse' },
  ChangeDUState: {
    method: 'ChangeDUState',
    operations: [
      { op: 'Install', url: 'https://apps.example.net/app.ipk', uuid: UUID, username: 'u', password: 'p', executionEnvRef: 'Device.SoftwareModules.ExecEnv.1' },
      { op: 'Update', uuid: UUID, version: '2.0', url: 'https://apps.example.net/app2.ipk' },
      { op: 'Uninstall', uuid: UUID, version: '1.0' },
    ],
    commandKey: 'du-1',
  },
  ChangeDUStateResponse: { method: 'ChangeDUStateResponse' },
  SetVouchers: { method: 'SetVouchers', voucherList: ['SGVsbG8gd29ybGQ=', 'AAECAw=='] },
  SetVouchersResponse: { method: 'SetVouchersResponse' },
  GetOptions: { method: 'GetOptions', optionName: '' },
  GetOptionsResponse: {
    method: 'GetOptionsResponse',
    optionList: [
      { optionName: 'Feature1', voucherSN: '12345', state: 1, mode: 0, startDate: T0, isTransferable: false },
      { optionName: 'Feature2', voucherSN: '7', state: 2, mode: 1, startDate: T0, expirationDate: '2026-03-01T00:00:00Z', isTransferable: true },
    ],
  },
  Inform: sampleInform(),
  InformResponse: { method: 'InformResponse', maxEnvelopes: 1 },
  TransferComplete: { method: 'TransferComplete', commandKey: 'fw-1.0.11.80', faultStruct: { faultCode: 9010, faultString: 'Download failed: 404' }, startTime: T0, completeTime: T1 },
  TransferCompleteResponse: { method: 'TransferCompleteResponse' },
  AutonomousTransferComplete: {
    method: 'AutonomousTransferComplete',
    announceURL: '',
    transferURL: 'https://fw.example.net/fw.bin',
    isDownload: true,
    fileType: '1 Firmware Upgrade Image',
    fileSize: 1000,
    targetFileName: 'fw.bin',
    faultStruct: { faultCode: 0, faultString: '' },
    startTime: T0,
    completeTime: T1,
  },
  AutonomousTransferCompleteResponse: { method: 'AutonomousTransferCompleteResponse' },
  RequestDownload: { method: 'RequestDownload', fileType: '3 Vendor Configuration File', fileTypeArg: [{ name: 'Version', value: '1.0.11.74' }] },
  RequestDownloadResponse: { method: 'RequestDownloadResponse' },
  Kicked: { method: 'Kicked', command: 'enroll', referer: 'https://portal.example.net/', arg: 'user=42', next: 'https://portal.example.net/done' },
  KickedResponse: { method: 'KickedResponse', nextURL: 'https://portal.example.net/next' },
  DUStateChangeComplete: { method: 'DUStateChangeComplete', results: [OP_RESULT, { ...OP_RESULT, currentState: 'Failed', resolved: false, fault: { faultCode: 9018, faultString: 'corrupted' } }], commandKey: 'du-1' },
  DUStateChangeCompleteResponse: { method: 'DUStateChangeCompleteResponse' },
  AutonomousDUStateChangeComplete: { method: 'AutonomousDUStateChangeComplete', results: [{ ...OP_RESULT, operationPerformed: 'Install' }] },
  AutonomousDUStateChangeCompleteResponse: { method: 'AutonomousDUStateChangeCompleteResponse' },
  Fault: {
    method: 'Fault',
    faultcode: 'Client',
    faultstring: 'CWMP fault',
    faultCode: 9003,
    faultString: 'Invalid arguments',
    setParameterValuesFaults: [
      { parameterName: 'InternetGatewayDevice.ManagementServer.PeriodicInformInterval', faultCode: 9007, faultString: 'Invalid parameter value' },
      { parameterName: 'InternetGatewayDevice.DeviceInfo.SoftwareVersion', faultCode: 9008, faultString: 'Attempt to set a non-writable parameter' },
    ],
  },
};
