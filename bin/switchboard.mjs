#!/usr/bin/env -S node --max-semi-space-size=64
// The switchboard CLI. TypeScript sources run through tsx's loader, so no build step is needed.
import { register } from 'tsx/esm/api';
register();
await import('../src/cli/main.ts');
