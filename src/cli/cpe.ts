import type { Command } from 'commander';

export function registerCpe(program: Command): void {
  program
    .command('cpe')
    .description('not built yet')
    .action(() => {
      throw new Error('switchboard cpe is not built yet');
    });
}
