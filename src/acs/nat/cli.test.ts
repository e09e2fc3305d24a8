import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { addNatCliOptions, natOptionsFromCli, type NatCliOptions } from './cli.ts';

class UsageError extends Error {}
const usage = (m: string): Error => new UsageError(m);

function parse(args: string[], env: Record<string, string> = {}): NatCliOptions {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const cmd = addNatCliOptions(new Command('acs').exitOverride());
    cmd.parse(args, { from: 'user' });
    return cmd.opts<NatCliOptions>();
  } finally {
    for (const k of Object.keys(env)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

describe('NAT command-line flags', () => {
  test('defaults: STUN on 3478 at the ACS host, provisioning nat, keep-alive 20-60, confirm 3 s', () => {
    assert.deepEqual(natOptionsFromCli(parse([]), '0.0.0.0', usage), {
      stun: { host: '0.0.0.0', port: 3478, secret: undefined, allowAnonymous: false },
      provisioning: { mode: 'nat', serverAddress: '', minKeepAliveSeconds: 20, maxKeepAliveSeconds: 60 },
      confirmMs: 3000,
    });
  });

  test('flags and environment variables', () => {
    const o = natOptionsFromCli(
      parse(['--stun-port', '3479', '--stun-host', '10.0.0.1', '--stun-secret', 'long-enough', '--stun-allow-anonymous', '--stun-provision', 'all', '--stun-keepalive', '30--1'], {
        SWITCHBOARD_STUN_SERVER_ADDRESS: 'stun.example.net',
        SWITCHBOARD_UDP_CR_CONFIRM: '0',
      }),
      '0.0.0.0',
      usage,
    );
    assert.deepEqual(o, {
      stun: { host: '10.0.0.1', port: 3479, secret: 'long-enough', allowAnonymous: true },
      provisioning: { mode: 'all', serverAddress: 'stun.example.net', minKeepAliveSeconds: 30, maxKeepAliveSeconds: -1 },
      confirmMs: 0,
    });
    assert.equal(natOptionsFromCli(parse(['--no-stun']), '::', usage).stun, false);
  });

  test('bad values are usage errors naming the flag', () => {
    const bad: [string[], RegExp][] = [
      [['--stun-port', '70000'], /--stun-port/],
      [['--stun-port', 'x'], /--stun-port/],
      [['--stun-provision', 'some'], /--stun-provision/],
      [['--stun-keepalive', '60-20'], /--stun-keepalive/],
      [['--stun-keepalive', 'abc'], /--stun-keepalive/],
      [['--udp-cr-confirm', '-5'], /--udp-cr-confirm/],
      [['--stun-secret', 'short'], /at least 8/],
      [['--no-stun', '--stun-secret', 'long-enough'], /--no-stun/],
    ];
    for (const [args, re] of bad) {
      assert.throws(() => natOptionsFromCli(parse(args), '0.0.0.0', usage), (e: Error) => e instanceof UsageError && re.test(e.message), args.join(' '));
    }
  });
});
