/**
 * Daily time windows in UTC (`TimeWindowSpec`), used by scheduled presets and rollouts.
 * A window whose end is before its start wraps past midnight (22:00-04:00); `days` are the days
 * on which the window opens, so 23:00 Sunday to 02:00 Monday belongs to a Sunday window.
 */
import type { TimeWindowSpec, Weekday } from '../store/provisioning/types.ts';

const DAYS: readonly Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const MINUTES_PER_DAY = 24 * 60;
const MS_PER_MINUTE = 60_000;

/** Minutes after midnight of `HH:MM`, or null when the text is not a time. */
export function parseClock(text: string): number | null {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text);
  return m ? Number(m[1]) * 60 + Number(m[2]) : null;
}

/**
 * Checks whether `nowMs` is inside the window.
 * @returns true inside; false outside (and for a malformed window, which validation refuses).
 */
export function inWindow(window: TimeWindowSpec, nowMs: number): boolean {
  const start = parseClock(window.start);
  const end = parseClock(window.end);
  if (start === null || end === null) return false;
  const now = new Date(nowMs);
  const minute = now.getUTCHours() * 60 + now.getUTCMinutes();
  const today = DAYS[now.getUTCDay()];
  const yesterday = DAYS[(now.getUTCDay() + 6) % 7];
  const dayOk = (d: Weekday) => !window.days || window.days.length === 0 || window.days.includes(d);
  if (start === end) return dayOk(today); // a full day
  if (start < end) return minute >= start && minute < end && dayOk(today);
  // wraps midnight: the evening part opens today, the morning part belongs to yesterday's window
  if (minute >= start) return dayOk(today);
  if (minute < end) return dayOk(yesterday);
  return false;
}

/** Milliseconds until the window next opens (0 when open now); null for a malformed window. */
export function msUntilOpen(window: TimeWindowSpec, nowMs: number): number | null {
  if (parseClock(window.start) === null || parseClock(window.end) === null) return null;
  // Scan minute by minute over a week: simple and exact, and only called by dashboards.
  const startOfMinute = nowMs - (nowMs % MS_PER_MINUTE);
  for (let i = 0; i <= 7 * MINUTES_PER_DAY; i++) {
    const t = i === 0 ? nowMs : startOfMinute + i * MS_PER_MINUTE;
    if (inWindow(window, t)) return t - nowMs;
  }
  return null;
}
