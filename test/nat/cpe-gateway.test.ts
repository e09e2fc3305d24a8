/**
 * The simulated phone's TR-111 Part 1 side: `gateway` (CLI --gateway OUI-ProductClass-Serial) puts
 * the gateway's identity in Device.GatewayInfo at boot and reports it to the ACS in an Inform.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from '../cpe/harness.ts';
import { runCpe } from '../../src/cpe/main.ts';
import { CliUsageError } from '../../src/cli/cpe.ts';

const GW = { oui: '00D09E', productClass: 'HomeGW', serialNumber: 'GW0042' };

describe('CPE gateway option (TR-111 Part 1)', () => {
  test('GatewayInfo is set at boot and reaches the ACS in an Inform', async () => {
    const h = await startHarness({ agent: { gateway: GW } });
    try {
      const root = h.agent.model.root;
      assert.deepEqual(
        ['ManufacturerOUI', 'ProductClass', 'SerialNumber'].map((n) => h.agent.model.getValue(`${root}.GatewayInfo.${n}`)),
        ['00D09E', 'HomeGW', 'GW0042'],
      );
      // Forced active notification: a session carries the values (the boot one or the next).
      await h.session();
      const reported = h.acs.informs.flatMap((i) => i.parameterList).filter((p) => p.name.startsWith(`${root}.GatewayInfo.`));
      assert.deepEqual(Object.fromEntries(reported.map((p) => [p.name.slice(`${root}.GatewayInfo.`.length), p.value])), {
        ManufacturerOUI: '00D09E',
        ProductClass: 'HomeGW',
        SerialNumber: 'GW0042',
      });
      await h.validateAll();
    } finally {
      await h.close();
    }
  });

  test('without the option GatewayInfo stays empty (no gateway detected)', async () => {
    const h = await startHarness({});
    try {
      assert.equal(h.agent.model.getValue(`${h.agent.model.root}.GatewayInfo.ManufacturerOUI`) ?? '', '');
    } finally {
      await h.close();
    }
  });

  test('switchboard cpe --gateway rejects a malformed identity before starting anything', async () => {
    for (const bad of ['nope', 'XYZ123-A-1', '00D09E-only']) {
      await assert.rejects(
        runCpe({ model: 'GXP2170', serial: '000B82A1B2C3', stateDir: '/nonexistent/never-created', connPort: '0', cwmpVersion: '1.4', gateway: bad } as never),
        (e: unknown) => e instanceof CliUsageError && /--gateway/.test((e as Error).message),
        bad,
      );
    }
  });
});
