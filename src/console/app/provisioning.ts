/** Shared bits of the provisioning pages (presets, files, rollouts, webhooks, bootstrap). */
import { h } from 'preact';
import { get, isMissingRoute, type Query } from './api.ts';
import { Empty, useLoad, type ComponentChild, type Loaded } from './ui.ts';

/** A list that may not exist on this server (the provisioning part is optional). */
export interface Optional<T> {
  available: boolean;
  value: T | null;
}

/** Loads `path`; a missing route resolves `{ available: false }` instead of failing. */
export function useOptional<T>(path: string, query?: Query, deps: unknown[] = []): Loaded<Optional<T>> {
  return useLoad(async (signal) => {
    try {
      return { available: true, value: await get<T>(path, query, signal) };
    } catch (err) {
      if (isMissingRoute(err)) return { available: false, value: null };
      throw err;
    }
  }, [path, JSON.stringify(query ?? {}), ...deps]);
}

export function NotAvailable(props: { what: string }): ComponentChild {
  return h(Empty, null, `${props.what} are not available on this server (its provisioning part is not installed).`);
}

/** A horizontal bar of rollout states, with the numbers in text for screen readers. */
export function ProgressBar(props: { counts: Record<string, number>; total: number; label: string }): ComponentChild {
  const order = ['succeeded', 'downloading', 'pending', 'failed', 'skipped'];
  const text = order.filter((k) => (props.counts[k] ?? 0) > 0).map((k) => `${props.counts[k]} ${k}`).join(', ') || 'no devices';
  return h(
    'div',
    { class: 'progress' },
    h(
      'div',
      { class: 'progress-bar', role: 'img', 'aria-label': `${props.label}: ${text} of ${props.total}` },
      order.map((k) => {
        const n = props.counts[k] ?? 0;
        return n > 0 ? h('span', { key: k, class: `progress-${k}`, style: { width: `${(100 * n) / Math.max(1, props.total)}%` } }) : null;
      }),
    ),
    h('div', { class: 'progress-text small muted' }, `${text} of ${props.total}`),
  );
}
