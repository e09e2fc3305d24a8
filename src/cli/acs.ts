import type { Command } from 'commander';

export function registerAcs(program: Command): void {
  program
    .command('acs')
    .description('not built yet')
    .action(() => {
      throw new Error('switchboard acs is not built yet');
    });
}
