/** Overview: fleet status, informs per minute, recent faults, running rollouts. */
import { h, type ComponentChild } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { get, isMissingRoute } from '../api.ts';
import { InformChart, type SeriesPoint } from '../chart.ts';
import { useApp } from '../context.ts';
import { ago, dateTime, num, type OnlineRule } from '../format.ts';
import { openStream, type StreamState } from '../sse.ts';
import { Badge, Empty, LoadError, Loading, Section, SelectField, useInterval, useLoad, useTitle } from '../ui.ts';
import type { Fault } from '../types.ts';
import { ProgressBar } from '../provisioning.ts';

interface Counts {
  total: number;
  online: number;
  offline: number;
  never: number;
}

interface Overview {
  generatedAt: string;
  onlineRule: OnlineRule & { description: string };
  activeSessions: number;
  devices: Counts;
  models: (Counts & { productClass: string; firmware: { softwareVersion: string | null; count: number }[] })[];
  informs: { since: string; until: string; buckets: SeriesPoint[] };
  computeMs: number;
}

interface RolloutSummary {
  rollout: { id: string; name: string; state: string; stageIndex: number; stages: unknown[] };
  counts: Record<string, number>;
  total: number;
}

const REFRESH_MS = 30_000;

function StatCard(props: { label: string; value: number; kind: string; hint?: string; href?: string }): ComponentChild {
  const body = [h('span', { class: 'stat-value' }, num(props.value)), h('span', { class: 'stat-label' }, props.label)];
  return h('div', { class: `stat stat-${props.kind}` }, props.href ? h('a', { href: props.href }, body) : body, props.hint ? h('span', { class: 'stat-hint' }, props.hint) : null);
}

export function OverviewPage(): ComponentChild {
  useTitle('Overview');
  const app = useApp();
  const [hours, setHours] = useState('3');
  const overview = useLoad((signal) => get<Overview>('/api/overview', { hours }, signal), [hours]);
  const faults = useLoad((signal) => get<{ faults: Fault[] }>('/api/faults', { limit: 8 }, signal), []);
  const rollouts = useLoad(async (signal) => {
    try {
      const answer = await get<{ rollouts: RolloutSummary[] }>('/api/rollouts', { state: 'running' }, signal);
      return { available: true, rollouts: answer.rollouts };
    } catch (err) {
      if (isMissingRoute(err)) return { available: false, rollouts: [] as RolloutSummary[] };
      throw err;
    }
  }, []);
  const [live, setLive] = useState<{ state: StreamState; active: number | null; perInterval: number }>({ state: 'connecting', active: null, perInterval: 0 });

  useInterval(() => {
    overview.reload();
    faults.reload();
    rollouts.reload();
  }, REFRESH_MS);

  useEffect(() => {
    if (overview.data) app.setRule(overview.data.onlineRule);
  }, [overview.data]);

  useEffect(
    () =>
      openStream(
        '/api/events/stream',
        (e) => {
          if (e.event !== 'activity') return;
          const a = e.data as { activeSessions: number; sessionsStarted: number };
          setLive((l) => ({ ...l, active: a.activeSessions, perInterval: a.sessionsStarted }));
        },
        (state) => setLive((l) => ({ ...l, state })),
      ),
    [],
  );

  const o = overview.data;
  return h(
    'div',
    { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', null, 'Overview'), h('p', { class: 'muted' }, o ? `Updated ${dateTime(o.generatedAt)}` : '')),
    h(LoadError, { error: overview.error }),
    !o && overview.loading ? h(Loading, null) : null,
    o
      ? h(
          Section,
          { id: 'fleet', title: 'Devices' },
          h(
            'div',
            { class: 'stats' },
            h(StatCard, { label: 'Devices', value: o.devices.total, kind: 'total', href: '/devices' }),
            h(StatCard, { label: 'Online', value: o.devices.online, kind: 'online' }),
            h(StatCard, { label: 'Offline', value: o.devices.offline, kind: 'offline' }),
            h(StatCard, { label: 'Never seen', value: o.devices.never, kind: 'never' }),
            h(StatCard, {
              label: 'Sessions now',
              value: live.active ?? o.activeSessions,
              kind: 'live',
              hint: live.state === 'open' ? `live · ${num(live.perInterval)} started in the last 2 s` : 'live updates reconnecting…',
            }),
          ),
          h('p', { class: 'hint' }, o.onlineRule.description),
        )
      : null,
    o
      ? h(
          Section,
          {
            id: 'informs',
            title: 'Informs per minute',
            actions: h(SelectField, {
              id: 'overview-hours',
              label: 'Window',
              inline: true,
              value: hours,
              onChange: setHours,
              options: ['1', '3', '6', '12', '24'].map((v) => ({ value: v, label: `last ${v} h` })),
            }),
          },
          h(InformChart, { points: o.informs.buckets, hours: Number(hours) }),
        )
      : null,
    o
      ? h(
          Section,
          { id: 'models', title: 'By model and firmware' },
          o.models.length === 0
            ? h(Empty, null, 'No devices yet. Devices appear here after their first Inform.')
            : h(
                'table',
                { class: 'table' },
                h('thead', null, h('tr', null, ['Model', 'Devices', 'Online', 'Offline', 'Firmware versions'].map((c) => h('th', { scope: 'col', key: c, class: ['Devices', 'Online', 'Offline'].includes(c) ? 'num' : undefined }, c)))),
                h(
                  'tbody',
                  null,
                  o.models.map((m) =>
                    h(
                      'tr',
                      { key: m.productClass },
                      h('th', { scope: 'row' }, h('a', { href: `/devices?productClass=${encodeURIComponent(m.productClass)}` }, m.productClass)),
                      h('td', { class: 'num' }, num(m.total)),
                      h('td', { class: 'num' }, num(m.online)),
                      h('td', { class: 'num' }, num(m.offline)),
                      h(
                        'td',
                        null,
                        h(
                          'ul',
                          { class: 'inline-list' },
                          m.firmware.slice(0, 4).map((f) =>
                            h(
                              'li',
                              { key: f.softwareVersion ?? '' },
                              f.softwareVersion
                                ? h('a', { href: `/devices?productClass=${encodeURIComponent(m.productClass)}&softwareVersion=${encodeURIComponent(f.softwareVersion)}` }, f.softwareVersion)
                                : 'unknown',
                              ` (${num(f.count)})`,
                            ),
                          ),
                          m.firmware.length > 4 ? h('li', null, `+${m.firmware.length - 4} more`) : null,
                        ),
                      ),
                    ),
                  ),
                ),
              ),
        )
      : null,
    h(
      'div',
      { class: 'columns' },
      h(
        Section,
        { id: 'faults', title: 'Recent faults' },
        h(LoadError, { error: faults.error }),
        faults.data && faults.data.faults.length === 0 ? h(Empty, null, 'No faults recorded.') : null,
        faults.data && faults.data.faults.length > 0
          ? h(
              'ul',
              { class: 'list' },
              faults.data.faults.map((f) =>
                h(
                  'li',
                  { key: f.id },
                  h(Badge, { kind: 'fault' }, f.code),
                  ' ',
                  h('a', { href: `/devices/${encodeURIComponent(f.deviceId)}` }, f.deviceId),
                  h('div', { class: 'muted small' }, `${f.message} · ${ago(f.at)}`),
                ),
              ),
            )
          : null,
      ),
      h(
        Section,
        { id: 'rollouts', title: 'Running rollouts' },
        h(LoadError, { error: rollouts.error }),
        rollouts.data && !rollouts.data.available ? h(Empty, null, 'Rollouts are not available on this server.') : null,
        rollouts.data?.available && rollouts.data.rollouts.length === 0 ? h(Empty, null, 'No rollout is running. ', h('a', { href: '/rollouts' }, 'Start one')) : null,
        rollouts.data?.available && rollouts.data.rollouts.length > 0
          ? h(
              'ul',
              { class: 'list' },
              rollouts.data.rollouts.map((r) =>
                h(
                  'li',
                  { key: r.rollout.id },
                  h('a', { href: `/rollouts?id=${encodeURIComponent(r.rollout.id)}` }, r.rollout.name),
                  ' ',
                  h(Badge, { kind: r.rollout.state }, r.rollout.state),
                  h(ProgressBar, { counts: r.counts, total: r.total, label: `Progress of ${r.rollout.name}` }),
                ),
              ),
            )
          : null,
      ),
    ),
  );
}
