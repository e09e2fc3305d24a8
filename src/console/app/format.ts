/** Formatting helpers for dates, durations and numbers. */

const numberFormat = new Intl.NumberFormat('en');

export function num(n: number): string {
  return numberFormat.format(n);
}

/** `2025-06-01 10:00:00` in local time, or an em dash for null. */
export function dateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** `3 min ago`, `2 h ago`, `in 5 min`; `never` for null. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const ms = now - Date.parse(iso);
  const future = ms < 0;
  const s = Math.abs(ms) / 1000;
  const text = s < 45 ? `${Math.round(s)} s` : s < 2700 ? `${Math.round(s / 60)} min` : s < 129600 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} d`;
  return future ? `in ${text}` : `${text} ago`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** Online rule as the overview reports it. */
export interface OnlineRule {
  defaultIntervalSeconds: number;
  onlineFactor: number;
  graceSeconds: number;
}

export const DEFAULT_RULE: OnlineRule = { defaultIntervalSeconds: 300, onlineFactor: 2, graceSeconds: 60 };

/** Status of a device from its last contact and periodic interval. */
export function contactStatus(lastContact: string | null, rule: OnlineRule, intervalSeconds?: number | null, now = Date.now()): 'online' | 'offline' | 'never' {
  if (!lastContact) return 'never';
  const interval = intervalSeconds && intervalSeconds > 0 ? intervalSeconds : rule.defaultIntervalSeconds;
  return now - Date.parse(lastContact) <= (interval * rule.onlineFactor + rule.graceSeconds) * 1000 ? 'online' : 'offline';
}
