/**
 * `switchboard` command line: one sub-command per part. Each sub-command module registers its
 * options and loads its heavy code lazily, so `switchboard --help` stays fast.
 */
import { Command } from 'commander';
import { registerAcs } from './acs.ts';
import { registerCpe } from './cpe.ts';
import { registerFleet } from './fleet.ts';
import { registerBench } from './bench.ts';

const program = new Command();
program
  .name('switchboard')
  .description('TR-069 (CWMP) ACS and CPE agent')
  .version('0.1.0')
  .showHelpAfterError();

registerAcs(program);
registerCpe(program);
registerFleet(program);
registerBench(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  console.error(`switchboard: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
