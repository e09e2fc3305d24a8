/** A hand-drawn SVG chart of informs per minute (area for all informs, line for failed ones). */
import { h, type ComponentChild } from 'preact';
import { num } from './format.ts';

export interface SeriesPoint {
  at: string;
  informs: number;
  failed: number;
}

const WIDTH = 760;
const HEIGHT = 200;
const PAD = { left: 44, right: 24, top: 12, bottom: 28 };
const X_TICKS = 6;

function hhmm(iso: string): string {
  const d = new Date(iso);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/** A "nice" axis maximum (1, 2, 5 × 10^n) at or above `max`. */
function niceMax(max: number): number {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

export function InformChart(props: { points: SeriesPoint[]; hours: number }): ComponentChild {
  const pts = props.points;
  const total = pts.reduce((s, p) => s + p.informs, 0);
  const failed = pts.reduce((s, p) => s + p.failed, 0);
  const peak = pts.reduce((best, p) => (p.informs > best.informs ? p : best), pts[0] ?? { at: '', informs: 0, failed: 0 });
  const yMax = niceMax(peak.informs);
  const innerW = WIDTH - PAD.left - PAD.right;
  const innerH = HEIGHT - PAD.top - PAD.bottom;
  const x = (i: number) => PAD.left + (pts.length <= 1 ? 0 : (i / (pts.length - 1)) * innerW);
  const y = (v: number) => PAD.top + innerH - (v / yMax) * innerH;
  const line = (key: 'informs' | 'failed') => pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(p[key]).toFixed(1)}`).join(' ');
  const area = pts.length ? `${line('informs')} L${x(pts.length - 1).toFixed(1)},${y(0)} L${x(0).toFixed(1)},${y(0)} Z` : '';
  const label =
    `Informs per minute over the last ${props.hours} ${props.hours === 1 ? 'hour' : 'hours'}: ${num(total)} in total, ${num(failed)} failed` +
    (peak.informs > 0 ? `, peak ${num(peak.informs)} per minute at ${hhmm(peak.at)}.` : '.');
  const ticks = pts.length > 1 ? Array.from({ length: X_TICKS }, (_, k) => Math.round((k / (X_TICKS - 1)) * (pts.length - 1))) : [];

  return h(
    'figure',
    { class: 'chart' },
    h(
      'svg',
      { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': label },
      // horizontal grid lines at 0, the middle (when it is a whole number) and the max
      (yMax % 2 === 0 ? [0, 0.5, 1] : [0, 1]).map((f) =>
        h(
          'g',
          { key: f },
          h('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(yMax * f), y2: y(yMax * f), class: 'chart-grid' }),
          h('text', { x: PAD.left - 6, y: y(yMax * f) + 4, class: 'chart-label', 'text-anchor': 'end' }, num(Math.round(yMax * f))),
        ),
      ),
      pts.length ? h('path', { d: area, class: 'chart-area' }) : null,
      pts.length ? h('path', { d: line('informs'), class: 'chart-line' }) : null,
      pts.length && failed > 0 ? h('path', { d: line('failed'), class: 'chart-failed' }) : null,
      ticks.map((i, k) =>
        h('text', { key: i, x: x(i), y: HEIGHT - 8, class: 'chart-label', 'text-anchor': k === 0 ? 'start' : k === ticks.length - 1 ? 'end' : 'middle' }, hhmm(pts[i].at)),
      ),
    ),
    h(
      'figcaption',
      null,
      h('span', { class: 'legend legend-informs' }, 'Informs'),
      ' ',
      h('span', { class: 'legend legend-failed' }, 'Failed sessions'),
      ' — ',
      label,
    ),
  );
}
