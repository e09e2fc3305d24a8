/**
 * Child process entry of the load generator (see loadgen.ts). Commands:
 * - `configure` (DeviceSetSpec & { host?, prepare? }): creates the simulated devices;
 * - `run` (LoadSpec) -> LoadResult;
 * - `verifySipAccounts` -> how many devices hold the SIP account of sip-accounts.ts.
 */
import { serveChild } from './child.ts';
import { LoadGenerator, type DeviceSetSpec, type LoadSpec } from './loadgen.ts';
import { sipAccountValues } from './sip-accounts.ts';

let gen: LoadGenerator | null = null;

function generator(): LoadGenerator {
  if (!gen) throw new Error('configure the load generator first');
  return gen;
}

serveChild(
  {
    configure: (arg) => {
      const a = arg as DeviceSetSpec & { host?: string; prepare?: boolean };
      gen?.close();
      gen = new LoadGenerator(a, a.host);
      const t0 = performance.now();
      if (a.prepare) gen.prepareAll();
      return { preparedMs: Math.round(performance.now() - t0) };
    },
    run: (arg) => generator().run(arg as LoadSpec),
    verifySipAccounts: () => generator().verify(sipAccountValues),
  },
  () => ({ pid: process.pid }),
  () => gen?.close(),
);
