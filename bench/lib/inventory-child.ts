/**
 * Child process entry generating the inventory database (inventory-db.ts), so that the bulk load
 * runs in its own process. Command `generate` ({ dir, devices }) -> InventoryGeneration; progress
 * lines go to stdout every 10 % of the devices.
 */
import { serveChild } from './child.ts';
import { generateInventory } from './inventory-db.ts';

const PROGRESS_STEPS = 10;

serveChild(
  {
    generate: (arg) => {
      const a = arg as { dir: string; devices: number };
      const step = Math.max(1, Math.floor(a.devices / PROGRESS_STEPS));
      const t0 = performance.now();
      let next = step;
      return generateInventory(a.dir, a.devices, (done, total) => {
        if (done >= next || done === total) {
          console.log(`  generated ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} devices (${Math.round((performance.now() - t0) / 1000)} s)`);
          next += step;
        }
      });
    },
  },
  () => ({ pid: process.pid }),
);
