/**
 * Browser test helpers: Debian's chromium driven by playwright-core, a build of the console when
 * its sources are newer than the bundle, axe-core checks and screenshots.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.SWITCHBOARD_CHROMIUM ?? '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const APP_DIR = join(ROOT, 'src/console/app');
const DIST_INDEX = join(ROOT, 'src/console/dist/index.html');
export const SCREENSHOT_DIR = join(ROOT, 'test-output/screenshots');
const AXE_SOURCE = join(ROOT, 'node_modules/axe-core/axe.min.js');

/** Why browser tests cannot run here, or null when they can. */
export function browserUnavailable(): string | null {
  if (!existsSync(CHROMIUM_PATH)) {
    return `chromium is not installed at ${CHROMIUM_PATH} (apt-get install -y chromium, or set SWITCHBOARD_CHROMIUM): browser tests skipped`;
  }
  return null;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    newest = Math.max(newest, st.isDirectory() ? newestMtime(p) : st.mtimeMs);
  }
  return newest;
}

const BUILD_LOCK = join(ROOT, 'src/console/.dist-build-lock');
/** A build lock older than this was left by a killed test process. */
const STALE_LOCK_MS = 5 * 60_000;

function bundleIsFresh(): boolean {
  return existsSync(DIST_INDEX) && statSync(DIST_INDEX).mtimeMs >= newestMtime(APP_DIR);
}

/**
 * Builds the console unless the bundle is newer than every source file.
 *
 * The browser test files run in parallel processes, and the build empties the bundle's directory
 * first: two builds at once, or a build while another file's server serves the bundle, left a page
 * without its script (a clean clone's full run: the login form never appeared). So the build is
 * done under a lock (a directory, created atomically), and freshness is checked again once the
 * lock is held: the second file finds the first one's bundle and builds nothing.
 * @throws Error with the bundler's output when the build fails.
 */
export function ensureConsoleBuilt(): void {
  if (bundleIsFresh()) return;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      mkdirSync(BUILD_LOCK);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const held = statSync(BUILD_LOCK, { throwIfNoEntry: false });
      if (held && Date.now() - held.mtimeMs > STALE_LOCK_MS) rmSync(BUILD_LOCK, { recursive: true, force: true });
      else Atomics.wait(pause, 0, 0, 100);
    }
  }
  try {
    if (bundleIsFresh()) return;
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts/build-console.mjs')], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CONSOLE_BUILD_QUIET: '1' } });
    if (r.status !== 0) throw new Error(`console build failed:\n${r.stdout}\n${r.stderr}`);
  } finally {
    rmSync(BUILD_LOCK, { recursive: true, force: true });
  }
}

export interface BrowserSession {
  context: BrowserContext;
  page: Page;
  /** Errors the page logged or threw (a test asserts there are none). */
  pageErrors: string[];
  close(): Promise<void>;
}

/** Launches chromium headless with a fresh profile and opens one page. */
export async function launch(): Promise<BrowserSession> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'sb-chromium-'));
  // A fresh profile per run (playwright passes it as --user-data-dir).
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    viewport: { width: 1360, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20_000);
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => {
    // Failed requests (401/403/404 the tests provoke) are logged by chromium as console errors: not bugs.
    if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) pageErrors.push(msg.text());
  });
  return {
    context,
    page,
    pageErrors,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[]; failureSummary?: string }[];
}

let axeSource: string | undefined;

/** Runs axe-core in the page; returns the violations (WCAG 2.x A/AA and best practices). */
export async function axe(page: Page): Promise<AxeViolation[]> {
  axeSource ??= readFileSync(AXE_SOURCE, 'utf8');
  const loaded = await page.evaluate(() => typeof (window as unknown as { axe?: unknown }).axe !== 'undefined');
  if (!loaded) await page.evaluate(axeSource);
  return page.evaluate(async () => {
    const result = await (window as unknown as { axe: { run: (ctx: Document, opts: unknown) => Promise<{ violations: AxeViolation[] }> } }).axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
      resultTypes: ['violations'],
    });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })) }));
  });
}

/** A readable list of violations for an assertion message. */
export function formatViolations(violations: AxeViolation[]): string {
  return violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n  ${v.nodes.slice(0, 3).map((n) => `${n.target.join(' ')} ${n.failureSummary ?? ''}`).join('\n  ')}`).join('\n');
}

/** Saves a full-page screenshot under test-output/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
