import type { Command } from 'commander';
import { readdirSync } from 'node:fs';

const benchDir = new URL('../../bench/', import.meta.url);

/** Benchmarks are the files bench/<name>.bench.ts; each exports `run(args): Promise<void>`. */
export function listBenchmarks(): string[] {
  return readdirSync(benchDir)
    .filter((f) => f.endsWith('.bench.ts'))
    .map((f) => f.slice(0, -'.bench.ts'.length))
    .sort();
}

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('run benchmarks (all when no name is given)')
    .argument('[names...]', 'benchmark names')
    .allowUnknownOption(true)
    .action(async (names: string[]) => {
      const all = listBenchmarks();
      const wanted = names.filter((n) => !n.startsWith('-'));
      const selected = wanted.length ? wanted : all;
      for (const name of selected) {
        if (!all.includes(name)) {
          throw new Error(`unknown benchmark "${name}" (known: ${all.join(', ') || 'none'})`);
        }
      }
      for (const name of selected) {
        const mod = (await import(new URL(`${name}.bench.ts`, benchDir).href)) as { run: (args: string[]) => Promise<void> };
        await mod.run(names.filter((n) => n.startsWith('-')));
      }
    });
}
