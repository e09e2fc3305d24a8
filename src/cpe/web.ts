/**
 * The device's own web pages (`--web-port`), server-rendered plain HTML without scripts:
 *  - `/` status: model, firmware, serial, MAC, uptime, SIP accounts with their registration settings
 *    and line state, the last TR-069 session and its result, and a "Check for firmware" button
 *    (RequestDownload);
 *  - `/tr069`: the seed's TR-069 form (ACS URL, ACS Username, ACS Password, Periodic Inform Enable,
 *    Periodic Inform Interval, Connection Request Username, Connection Request Password, Save, Cancel).
 * Saving validates the input (errors shown on the page, nothing saved) and takes effect at once.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CpeAgent, Tr069Settings } from './agent.ts';

/** Longest value the data model accepts for these strings (string(256)). */
const MAX_FIELD = 256;
const UINT_MAX = 4294967295;
const MAX_FORM_BYTES = 16 * 1024;

export interface WebServerOptions {
  port?: number;
  host?: string;
}

/** Field validation errors, keyed by form field name. */
export type FormErrors = Partial<Record<keyof Tr069Settings, string>>;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/**
 * Validates the submitted form against the current settings (empty password fields keep the
 * stored password). Returns the new settings or the errors.
 */
export function validateSettingsForm(form: URLSearchParams, current: Tr069Settings): { ok: true; settings: Tr069Settings } | { ok: false; errors: FormErrors } {
  const errors: FormErrors = {};
  const text = (name: keyof Tr069Settings, label: string): string => {
    const v = (form.get(name) ?? '').trim();
    if (v.length > MAX_FIELD) errors[name] = `${label} must be at most ${MAX_FIELD} characters.`;
    else if (/[\u0000-\u001f\u007f]/.test(v)) errors[name] = `${label} must not contain control characters.`;
    return v;
  };
  const acsUrl = text('acsUrl', 'ACS URL');
  if (acsUrl && !errors.acsUrl) {
    let u: URL | null = null;
    try {
      u = new URL(acsUrl);
    } catch {
      u = null;
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname) {
      errors.acsUrl = 'ACS URL must be an http:// or https:// URL, e.g. http://acs.example.net:7547/';
    }
  }
  const acsUsername = text('acsUsername', 'ACS Username');
  const acsPasswordIn = text('acsPassword', 'ACS Password');
  const crUser = text('connectionRequestUsername', 'Connection Request Username');
  const crPassIn = text('connectionRequestPassword', 'Connection Request Password');
  const enable = form.get('periodicInformEnable');
  if (enable !== '1' && enable !== '0') errors.periodicInformEnable = 'Choose Yes or No for Periodic Inform Enable.';
  const intervalText = (form.get('periodicInformInterval') ?? '').trim();
  const interval = Number(intervalText);
  if (!/^[0-9]+$/.test(intervalText) || !Number.isSafeInteger(interval) || interval < 1 || interval > UINT_MAX) {
    errors.periodicInformInterval = 'Periodic Inform Interval must be a whole number of seconds, at least 1.';
  }
  if (Object.keys(errors).length) return { ok: false, errors };
  return {
    ok: true,
    settings: {
      acsUrl,
      acsUsername,
      acsPassword: acsPasswordIn === '' ? current.acsPassword : acsPasswordIn,
      periodicInformEnable: enable === '1',
      periodicInformInterval: interval,
      connectionRequestUsername: crUser,
      connectionRequestPassword: crPassIn === '' ? current.connectionRequestPassword : crPassIn,
    },
  };
}

/** The settings web server of one agent. */
export class CpeWebServer {
  private readonly server: http.Server;
  port = 0;

  constructor(
    private readonly agent: CpeAgent,
    private readonly opts: WebServerOptions = {},
  ) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        agent.log('error', `web page error: ${err instanceof Error ? err.message : String(err)}`);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('Internal error');
      });
    });
  }

  /** Starts listening; returns the port. Rejects on listen errors. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://device.local');
    if (req.method === 'POST' && !this.sameOrigin(req)) {
      this.send(res, 403, page('Forbidden', '<p>Cross-site form submissions are refused.</p>'));
      return;
    }
    if (url.pathname === '/' && req.method === 'GET') {
      this.send(res, 200, this.statusPage(url.searchParams.get('firmware') === 'requested'));
    } else if (url.pathname === '/tr069' && req.method === 'GET') {
      this.send(res, 200, this.formPage(this.formValues(this.agent.settings()), {}, url.searchParams.get('saved') === '1'));
    } else if (url.pathname === '/tr069' && req.method === 'POST') {
      const form = await readForm(req);
      if (!form) {
        this.send(res, 413, page('Too large', '<p>The form is too large.</p>'));
        return;
      }
      const current = this.agent.settings();
      const v = validateSettingsForm(form, current);
      if (!v.ok) {
        this.send(res, 400, this.formPage(this.formValues(current, form), v.errors, false));
        return;
      }
      try {
        this.agent.updateSettings(v.settings);
      } catch (err) {
        this.send(res, 400, this.formPage(this.formValues(current, form), { acsUrl: `The device refused the settings: ${(err as Error).message}` }, false));
        return;
      }
      res.writeHead(303, { location: '/tr069?saved=1', 'content-length': 0 }).end();
    } else if (url.pathname === '/firmware' && req.method === 'POST') {
      await readForm(req);
      this.agent.checkForFirmware();
      res.writeHead(303, { location: '/?firmware=requested', 'content-length': 0 }).end();
    } else {
      this.send(res, 404, page('Not found', '<p>No such page. <a href="/">Status</a></p>'));
    }
  }

  /** POSTs must come from this page (Origin/Referer, when the browser sends one, must match Host). */
  private sameOrigin(req: http.IncomingMessage): boolean {
    const origin = req.headers.origin ?? req.headers.referer;
    if (!origin || origin === 'null') return true;
    try {
      return new URL(origin).host === req.headers.host;
    } catch {
      return false;
    }
  }

  private send(res: http.ServerResponse, status: number, html: string): void {
    res.writeHead(status, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(html),
      'cache-control': 'no-store',
      'x-frame-options': 'DENY',
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    });
    res.end(html);
  }

  private formValues(s: Tr069Settings, form?: URLSearchParams): Record<string, string> {
    const pick = (k: keyof Tr069Settings, v: string): string => (form ? (form.get(k) ?? '') : v);
    return {
      acsUrl: pick('acsUrl', s.acsUrl),
      acsUsername: pick('acsUsername', s.acsUsername),
      periodicInformEnable: pick('periodicInformEnable', s.periodicInformEnable ? '1' : '0'),
      periodicInformInterval: pick('periodicInformInterval', String(s.periodicInformInterval)),
      connectionRequestUsername: pick('connectionRequestUsername', s.connectionRequestUsername),
    };
  }

  private formPage(values: Record<string, string>, errors: FormErrors, saved: boolean): string {
    const errorList = Object.values(errors);
    const field = (name: keyof Tr069Settings, label: string, type: 'text' | 'url' | 'password' | 'number', extra = ''): string => {
      const err = errors[name];
      const hintId = `${name}-hint`;
      const errId = `${name}-error`;
      const described = [type === 'password' ? hintId : '', err ? errId : ''].filter(Boolean).join(' ');
      const value = type === 'password' ? '' : (values[name] ?? '');
      return `<div class="field">
  <label for="${name}">${esc(label)}</label>
  <input id="${name}" name="${name}" type="${type}" value="${esc(value)}"${described ? ` aria-describedby="${described}"` : ''}${err ? ' aria-invalid="true"' : ''} ${extra}>
  ${type === 'password' ? `<span class="hint" id="${hintId}">Leave empty to keep the current password.</span>` : ''}
  ${err ? `<span class="error" id="${errId}">${esc(err)}</span>` : ''}
</div>`;
    };
    const enable = values.periodicInformEnable;
    const body = `
${saved ? '<p class="ok" role="status">Settings saved. They are in effect now.</p>' : ''}
${errorList.length ? `<div class="error-summary" role="alert"><p>The settings were not saved:</p><ul>${errorList.map((e) => `<li>${esc(e)}</li>`).join('')}</ul></div>` : ''}
<form method="post" action="/tr069" novalidate>
${field('acsUrl', 'ACS URL', 'url', 'autocomplete="url"')}
${field('acsUsername', 'ACS Username', 'text', 'autocomplete="username"')}
${field('acsPassword', 'ACS Password', 'password', 'autocomplete="new-password"')}
<fieldset class="field"${errors.periodicInformEnable ? ' aria-describedby="periodicInformEnable-error"' : ''}>
  <legend>Periodic Inform Enable</legend>
  <input type="radio" id="periodicInformEnable-yes" name="periodicInformEnable" value="1"${enable === '1' ? ' checked' : ''}>
  <label for="periodicInformEnable-yes">Yes</label>
  <input type="radio" id="periodicInformEnable-no" name="periodicInformEnable" value="0"${enable !== '1' ? ' checked' : ''}>
  <label for="periodicInformEnable-no">No</label>
  ${errors.periodicInformEnable ? `<span class="error" id="periodicInformEnable-error">${esc(errors.periodicInformEnable)}</span>` : ''}
</fieldset>
${field('periodicInformInterval', 'Periodic Inform Interval (s)', 'number', 'min="1" step="1" inputmode="numeric"')}
${field('connectionRequestUsername', 'Connection Request Username', 'text', 'autocomplete="off"')}
${field('connectionRequestPassword', 'Connection Request Password', 'password', 'autocomplete="new-password"')}
<div class="buttons"><button type="submit">Save</button> <button type="reset">Cancel</button></div>
</form>`;
    return page(`TR-069 settings — ${this.agent.profile.model}`, body, this.agent.profile.model, 'tr069');
  }

  private statusPage(firmwareRequested: boolean): string {
    const a = this.agent;
    const m = a.model;
    const root = m.root;
    const get = (p: string): string => m.getValue(p) ?? '';
    const rows = (pairs: [string, string][]): string => pairs.map(([k, v]) => `<tr><th scope="row">${esc(k)}</th><td>${esc(v)}</td></tr>`).join('');
    const uptime = Number(get(`${root}.DeviceInfo.UpTime`) || '0');
    const device = rows([
      ['Model', a.profile.model],
      ['Firmware version', get(`${root}.DeviceInfo.SoftwareVersion`)],
      ['Hardware version', get(`${root}.DeviceInfo.HardwareVersion`)],
      ['Serial number', a.serial],
      ['MAC address', m.macAddress.replace(/(..)(?!$)/g, '$1:')],
      ['Uptime', formatDuration(uptime)],
      ['ACS URL', a.acsUrl || '(not set)'],
      ['Connection Request URL', get(`${root}.ManagementServer.ConnectionRequestURL`)],
    ]);
    const vs = `${root}.Services.VoiceService.1.VoiceProfile.`;
    const accounts = m
      .listInstances(vs)
      .map((i) => {
        const p = `${vs}${i}.`;
        const line = `${p}Line.1.`;
        return `<tr><th scope="row">Account ${i}</th><td>${esc(get(`${line}Enable`))}</td><td>${esc(get(`${line}DirectoryNumber`))}</td><td>${esc(get(`${line}SIP.AuthUserName`))}</td><td>${esc(get(`${p}SIP.RegistrarServer`) || get(`${p}SIP.ProxyServer`))}</td><td>${esc(get(`${p}SIP.OutboundProxy`))}</td><td>${esc(get(`${line}Status`))}</td><td>${esc(get(`${line}CallState`))}</td></tr>`;
      })
      .join('');
    const ls = a.lastSession;
    const session = ls
      ? rows([
          ['When', new Date(ls.at).toISOString()],
          ['Result', ls.ok ? 'Success' : `Failed: ${ls.message}`],
          ['Events', ls.events.join(', ')],
          ['Duration', `${ls.durationMs} ms`],
        ])
      : rows([['Result', 'No session yet']]);
    const body = `
${firmwareRequested ? '<p class="ok" role="status">Firmware check requested: the device asks the ACS for new firmware now.</p>' : ''}
<h2>Device</h2>
<table>${device}</table>
<h2>Accounts</h2>
<table><thead><tr><th scope="col">Account</th><th scope="col">Enabled</th><th scope="col">Number</th><th scope="col">Auth user</th><th scope="col">Registrar / proxy</th><th scope="col">Outbound proxy</th><th scope="col">Line status</th><th scope="col">Call state</th></tr></thead><tbody>${accounts}</tbody></table>
<h2>Last TR-069 session</h2>
<table>${session}</table>
<form method="post" action="/firmware"><button type="submit">Check for firmware</button></form>`;
    return page(`Status — ${a.profile.model}`, body, a.profile.model, 'status');
  }
}

function formatDuration(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${d}d ${h}h ${m}m ${s % 60}s`;
}

function page(title: string, body: string, model = '', current: 'status' | 'tr069' | '' = ''): string {
  const nav = (href: string, key: string, label: string): string =>
    `<a href="${href}"${current === key ? ' aria-current="page"' : ''}>${label}</a>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; color: #111; background: #fff; }
header { background: #1f4e8c; color: #fff; padding: .75rem 1rem; }
header .brand { margin: 0; font-size: 1.25rem; font-weight: bold; }
nav { padding: .5rem 1rem; background: #e8eef7; }
nav a { margin-right: 1rem; color: #0b3a75; }
nav a[aria-current="page"] { font-weight: bold; }
main { padding: 1rem; max-width: 60rem; }
.field { margin: .75rem 0; }
.field label, legend { display: inline-block; min-width: 16rem; font-weight: 600; }
fieldset { border: none; padding: 0; }
fieldset label { min-width: 0; font-weight: normal; margin-right: 1rem; }
input[type=text], input[type=url], input[type=password], input[type=number] { width: 22rem; max-width: 100%; padding: .3rem; }
.hint { display: block; margin-left: 16rem; font-size: .85rem; color: #444; }
.error { display: block; margin-left: 16rem; color: #a00000; font-weight: 600; }
.error-summary { border: 2px solid #a00000; padding: .5rem 1rem; color: #a00000; }
.ok { border: 2px solid #176b2c; padding: .5rem 1rem; color: #176b2c; }
button { padding: .4rem 1.2rem; margin-right: .5rem; }
table { border-collapse: collapse; margin-bottom: 1rem; }
th, td { text-align: left; border-bottom: 1px solid #ccc; padding: .3rem .8rem .3rem 0; }
</style>
</head>
<body>
<header><p class="brand">${esc(model)} — Administration Interface</p></header>
<nav aria-label="Main">${nav('/', 'status', 'Status')}${nav('/tr069', 'tr069', 'TR-069')}</nav>
<main>
<h1>${esc(title)}</h1>
${body}
</main>
</body>
</html>
`;
}

async function readForm(req: http.IncomingMessage): Promise<URLSearchParams | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_FORM_BYTES) return null;
    chunks.push(c as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
