/**
 * Command-line flags of the NAT part for `switchboard acs` (each with a SWITCHBOARD_* variable):
 *
 *   --stun-port <port>            STUN server UDP port (default 3478)             SWITCHBOARD_STUN_PORT
 *   --stun-host <address>         STUN listen address (default: --host)           SWITCHBOARD_STUN_HOST
 *   --no-stun                     no STUN server (UDP requests to reported addresses only)
 *   --stun-secret <secret>        derive STUN passwords, require MESSAGE-INTEGRITY SWITCHBOARD_STUN_SECRET
 *   --stun-allow-anonymous        with a secret, still accept unauthenticated Binding Requests
 *   --stun-provision <mode>       off | nat | all (default nat)                   SWITCHBOARD_STUN_PROVISION
 *   --stun-server-address <host>  STUNServerAddress told to devices (default: empty = their ACS URL host)
 *   --stun-keepalive <min-max>    STUNMinimum/MaximumKeepAlivePeriod, seconds (default 20-60)
 *   --udp-cr-confirm <ms>         wait for the session after a UDP request (default 3000; 0 = no)
 *
 * `addNatCliOptions` registers them on the `acs` command; `natOptionsFromCli` turns the parsed
 * values into `NatOptions` for `startAcs({ nat })`, throwing the caller's usage error on bad input.
 */
import { Option, type Command } from 'commander';
import type { NatOptions } from './index.ts';
import type { StunProvisionMode } from './provisioning.ts';

/** The parsed flags (commander camel-cases them; `--no-stun` sets `stun: false`). */
export interface NatCliOptions {
  stun?: boolean;
  stunPort?: string;
  stunHost?: string;
  stunSecret?: string;
  stunAllowAnonymous?: boolean;
  stunProvision?: string;
  stunServerAddress?: string;
  stunKeepalive?: string;
  udpCrConfirm?: string;
}

const MODES: readonly StunProvisionMode[] = ['off', 'nat', 'all'];
const MAX_PORT = 65535;
const MAX_KEEPALIVE_S = 86_400;

/**
 * Adds the NAT flags to a command.
 * @returns the same command (chainable).
 */
export function addNatCliOptions(cmd: Command): Command {
  const env = (flags: string, description: string, variable: string, fallback?: string): Option => {
    const o = new Option(flags, description).env(variable);
    return fallback === undefined ? o : o.default(fallback);
  };
  return cmd
    .addOption(env('--stun-port <port>', 'STUN server UDP port (TR-111)', 'SWITCHBOARD_STUN_PORT', '3478'))
    .addOption(env('--stun-host <address>', 'STUN listen address (default: --host)', 'SWITCHBOARD_STUN_HOST'))
    .addOption(new Option('--no-stun', 'run no STUN server'))
    .addOption(env('--stun-secret <secret>', 'derive per-device STUN passwords and require MESSAGE-INTEGRITY', 'SWITCHBOARD_STUN_SECRET'))
    .addOption(new Option('--stun-allow-anonymous', 'with --stun-secret, still accept Binding Requests without integrity'))
    .addOption(env('--stun-provision <mode>', 'provision STUN on devices: off, nat (those behind a NAT), all', 'SWITCHBOARD_STUN_PROVISION', 'nat'))
    .addOption(env('--stun-server-address <host>', 'STUNServerAddress told to devices (default: their ACS URL host)', 'SWITCHBOARD_STUN_SERVER_ADDRESS'))
    .addOption(env('--stun-keepalive <min-max>', 'STUN keep-alive period bounds in seconds', 'SWITCHBOARD_STUN_KEEPALIVE', '20-60'))
    .addOption(env('--udp-cr-confirm <ms>', 'wait this long for the session after a UDP connection request (0 = do not)', 'SWITCHBOARD_UDP_CR_CONFIRM', '3000'));
}

/**
 * Turns the parsed flags into NatOptions.
 * @param listenHost the ACS's --host, the STUN default listen address.
 * @param usage builds the error to throw for a bad flag (e.g. AcsUsageError).
 * @returns the options for `startAcs({ nat })`.
 * @throws whatever `usage` returns, for a bad port, mode, keep-alive range or confirm time.
 */
export function natOptionsFromCli(o: NatCliOptions, listenHost: string, usage: (message: string) => Error): NatOptions {
  const mode = (o.stunProvision ?? 'nat') as StunProvisionMode;
  if (!MODES.includes(mode)) throw usage(`--stun-provision must be off, nat or all, got ${JSON.stringify(o.stunProvision)}`);
  const portText = o.stunPort ?? '3478';
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > MAX_PORT) throw usage(`--stun-port must be a port number 0-65535, got ${JSON.stringify(portText)}`);
  const keep = /^([0-9]{1,5})-(-1|[0-9]{1,5})$/.exec(o.stunKeepalive ?? '20-60');
  if (!keep) throw usage(`--stun-keepalive must be <min>-<max> seconds (max -1 = none), got ${JSON.stringify(o.stunKeepalive)}`);
  const min = Number(keep[1]);
  const max = Number(keep[2]);
  if (min > MAX_KEEPALIVE_S || max > MAX_KEEPALIVE_S || (max !== -1 && max < min)) throw usage(`--stun-keepalive: need min <= max <= ${MAX_KEEPALIVE_S}, got ${o.stunKeepalive}`);
  const confirmText = o.udpCrConfirm ?? '3000';
  if (!/^[0-9]{1,6}$/.test(confirmText)) throw usage(`--udp-cr-confirm must be milliseconds, got ${JSON.stringify(confirmText)}`);
  if (o.stun === false && o.stunSecret !== undefined) throw usage('--stun-secret needs the STUN server (drop --no-stun)');
  if (o.stunSecret !== undefined && o.stunSecret.length < 8) throw usage('--stun-secret must be at least 8 characters');
  return {
    stun: o.stun === false ? false : { host: o.stunHost ?? listenHost, port: Number(portText), secret: o.stunSecret, allowAnonymous: o.stunAllowAnonymous ?? false },
    provisioning: {
      mode,
      serverAddress: o.stunServerAddress ?? '',
      minKeepAliveSeconds: min,
      maxKeepAliveSeconds: max,
    },
    confirmMs: Number(confirmText),
  };
}
