/**
 * Shared fixtures of the provisioning tests: stores in a temp dir, the service, a voice preset
 * (three SIP accounts from CSV variables, notification attributes, periodic interval) and the CSV.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import { openSqliteProvisioningStore, type SqliteProvisioningStore } from '../../src/store/provisioning/sqlite.ts';
import { ProvisioningService, type ProvisioningServiceOptions } from '../../src/provisioning/service.ts';
import type { Store } from '../../src/store/types.ts';

export const VP = 'Device.Services.VoiceService.1.VoiceProfile.';
export const MS = 'Device.ManagementServer.';

export interface Fixture {
  dir: string;
  store: Store;
  p: SqliteProvisioningStore;
  service: ProvisioningService;
  close(): Promise<void>;
}

/** Both stores on one SQLite file in a temp dir (as in production), and the service. */
export function makeFixture(options: Partial<ProvisioningServiceOptions> = {}): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'sb-prov-'));
  const store = openSqliteStore({ dataDir: dir });
  const p = openSqliteProvisioningStore({ dataDir: dir });
  const service = new ProvisioningService({ store, provisioning: p, dataDir: dir, fileBaseUrl: 'http://127.0.0.1:9', ...options });
  return {
    dir,
    store,
    p,
    service,
    close: async () => {
      await service.stop();
      await p.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One SIP account of the voice preset: values from the variables `sip<n>_user`/`sip<n>_password`. */
function account(n: number) {
  return {
    values: {
      'Line.1.SIP.AuthUserName': `{{ sip${n}_user }}`,
      'Line.1.SIP.AuthPassword': `{{ sip${n}_password }}`,
      'Line.1.SIP.URI': `{{ sip${n}_user }}@{{ sip_domain | default("sip.example.net") }}`,
      'Line.1.DirectoryNumber': `{{ sip${n}_user }}`,
      'Line.1.Enable': 'Enabled',
      'SIP.RegistrarServer': '{{ sip_domain | default("sip.example.net") }}',
    },
    attributes: { 'Line.1.Enable': { notification: 2 } },
  };
}

/** The preset of the end-to-end test, as the API takes it. */
export const VOICE_PRESET = {
  name: 'voice',
  description: 'SIP accounts from the CSV, active notification on line state, 10-minute informs',
  precondition: { oui: ['000B82'], productClass: ['GXP2140', 'HT502'] },
  triggers: ['always'],
  desired: {
    parameters: [
      { name: `${MS}PeriodicInformEnable`, value: true },
      { name: `${MS}PeriodicInformInterval`, value: 600 },
    ],
    attributes: [{ name: `${MS}PeriodicInformInterval`, notification: 1 }],
    objects: [{ path: VP, key: ['Line.1.SIP.AuthUserName'], instances: [account(1), account(2), account(3)] }],
  },
};

/** SIP accounts: the GXP2140 gets three, the HT502 two (its third account is left alone). */
export const ACCOUNTS_CSV = [
  'mac,sip1_user,sip1_password,sip2_user,sip2_password,sip3_user,sip3_password',
  '00:0B:82:00:21:40,2140001,pw-a,2140002,pw-b,2140003,pw-c',
  '000b82000502,5020001,pw-x,5020002,pw-y,,',
  '',
].join('\r\n');
