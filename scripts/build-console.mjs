// Builds the web console (src/console/app, Preact + TypeScript) into src/console/dist with Vite.
// Usage: node scripts/build-console.mjs   (npm run build:console; `npm start` runs it first)
import { build } from 'vite';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../src/console/app/', import.meta.url));
const outDir = fileURLToPath(new URL('../src/console/dist/', import.meta.url));

await build({
  root,
  base: '/',
  logLevel: process.env.CONSOLE_BUILD_QUIET ? 'warn' : 'info',
  configFile: false,
  publicDir: false,
  build: {
    outDir,
    emptyOutDir: true,
    // The server's Content-Security-Policy allows no inline script: no preload polyfill snippet.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: true,
    target: 'es2022',
    reportCompressedSize: false,
  },
});
