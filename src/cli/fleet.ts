import type { Command } from 'commander';

export function registerFleet(program: Command): void {
  program
    .command('fleet')
    .description('not built yet')
    .action(() => {
      throw new Error('switchboard fleet is not built yet');
    });
}
