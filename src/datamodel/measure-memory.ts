/**
 * Measures the heap cost of one DeviceModel (not a test; prints figures).
 *
 *   node --expose-gc --import tsx src/datamodel/measure-memory.ts [count] [model...]
 *
 * For each model it creates `count` devices, gives each a realistic amount of own state
 * (ACS URL and credentials, two provisioned accounts, a changed notification attribute,
 * a connection-request URL, one added instance), and reports the retained heap per device.
 */

import { DeviceModel, listProfiles, loadProfile } from './model.ts';

const DEFAULT_COUNT = 10_000;
const BYTES_PER_KB = 1024;

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error('run with node --expose-gc');
  g();
  g();
}

function serial(i: number): string {
  return `000B82${i.toString(16).toUpperCase().padStart(6, '0')}`;
}

function provision(m: DeviceModel, i: number): void {
  const r = m.root;
  const vs = `${r}.Services.VoiceService.1.VoiceProfile.`;
  m.setParameterValues(
    [
      { name: `${r}.ManagementServer.URL`, value: 'https://acs.example.net:7547/cwmp', type: 'string' },
      { name: `${r}.ManagementServer.Username`, value: serial(i), type: 'string' },
      { name: `${r}.ManagementServer.Password`, value: `pw-${i}`, type: 'string' },
      { name: `${r}.ManagementServer.PeriodicInformEnable`, value: '1', type: 'boolean' },
      { name: `${vs}1.Line.1.Enable`, value: 'Enabled', type: 'string' },
      { name: `${vs}1.Line.1.SIP.AuthUserName`, value: `${1000 + i}`, type: 'string' },
      { name: `${vs}1.Line.1.SIP.AuthPassword`, value: `secret-${i}`, type: 'string' },
      { name: `${vs}1.SIP.ProxyServer`, value: 'sip.example.net', type: 'string' },
      { name: `${vs}1.SIP.RegistrarServer`, value: 'sip.example.net', type: 'string' },
    ],
    `boot-${i}`,
  );
  m.setLocal(`${r}.ManagementServer.ConnectionRequestURL`, `http://10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:7547/`);
  m.setLocal(`${vs}1.Line.1.Status`, 'Up');
  m.setParameterAttributes([
    { name: `${vs}1.Line.1.Status`, notificationChange: true, notification: 2, accessListChange: false, accessList: [] },
  ]);
  m.addObject(`${vs}1.SIP.EventSubscribe.`, `add-${i}`);
}

function measure(model: string, count: number): { perDeviceBytes: number; snapshotBytes: number } {
  const profile = loadProfile(model);
  // Warm the shared state (profile, regex caches) before the baseline.
  provision(DeviceModel.create(profile, { serialNumber: serial(0) }), 0);
  gc();
  const before = process.memoryUsage().heapUsed;
  const devices: DeviceModel[] = [];
  for (let i = 1; i <= count; i++) {
    const m = DeviceModel.create(profile, { serialNumber: serial(i) });
    provision(m, i);
    devices.push(m);
  }
  gc();
  const after = process.memoryUsage().heapUsed;
  const snapshotBytes = JSON.stringify(devices[0].snapshot()).length;
  return { perDeviceBytes: (after - before) / devices.length, snapshotBytes };
}

const count = Number(process.argv[2] ?? DEFAULT_COUNT);
const models = process.argv.length > 3 ? process.argv.slice(3) : listProfiles();
for (const model of models) {
  const r = measure(model, count);
  console.log(
    `${model.padEnd(8)} ${count} devices: ${(r.perDeviceBytes / BYTES_PER_KB).toFixed(2)} KB heap per device, snapshot ${r.snapshotBytes} bytes`,
  );
}
