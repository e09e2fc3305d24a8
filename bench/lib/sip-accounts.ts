/**
 * The "variables table" of the storm benchmark: one SIP account per device (ten parameters of
 * TR-104 line 1 and its voice profile), derived from the serial number so that the load process
 * can verify what the ACS set without being told.
 */
import type { ParameterValueStruct } from '../../src/cwmp/types.ts';

/** The voice profile / line the account goes to (TR-104 issue 1, as the HT50X profiles model it). */
const PROFILE = 'Device.Services.VoiceService.1.VoiceProfile.1.';
const LINE = `${PROFILE}Line.1.`;
/** Extension numbers start here (serial suffix added). */
const EXTENSION_BASE = 100_000;
/** The SIP domain of the benchmark's imaginary service provider. */
export const SIP_DOMAIN = 'voip.example.net';

/** One device's row of the variables table. */
export interface SipAccountRow {
  serial: string;
  extension: string;
  authUser: string;
  authPassword: string;
  displayName: string;
}

/** The variables-table row of a device (deterministic from its serial). */
export function sipAccountRow(serial: string): SipAccountRow {
  const n = EXTENSION_BASE + parseInt(serial.slice(-6), 16);
  return {
    serial,
    extension: String(n),
    authUser: `u${n}`,
    // not a real secret: a benchmark fixture derived from the serial
    authPassword: `pw-${serial.slice(-6).toLowerCase()}-${(n * 7919) % 100_000}`,
    displayName: `Ext ${n}`,
  };
}

/** The ten parameter values a device gets (what a preset with the row's variables expands to). */
export function sipAccountValues(serial: string): ParameterValueStruct[] {
  const r = sipAccountRow(serial);
  return [
    { name: `${PROFILE}SIP.ProxyServer`, value: SIP_DOMAIN, type: 'string' },
    { name: `${PROFILE}SIP.RegistrarServer`, value: SIP_DOMAIN, type: 'string' },
    { name: `${PROFILE}SIP.OutboundProxy`, value: `proxy.${SIP_DOMAIN}`, type: 'string' },
    { name: `${PROFILE}SIP.UserAgentDomain`, value: SIP_DOMAIN, type: 'string' },
    { name: `${LINE}Enable`, value: 'Enabled', type: 'string' },
    { name: `${LINE}DirectoryNumber`, value: r.extension, type: 'string' },
    { name: `${LINE}SIP.AuthUserName`, value: r.authUser, type: 'string' },
    { name: `${LINE}SIP.AuthPassword`, value: r.authPassword, type: 'string' },
    { name: `${LINE}SIP.URI`, value: `sip:${r.extension}@${SIP_DOMAIN}`, type: 'string' },
    { name: `${LINE}CallingFeatures.CallerIDName`, value: r.displayName, type: 'string' },
  ];
}
