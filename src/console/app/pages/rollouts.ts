/** Rollouts: start a staged firmware rollout, follow its progress, pause, resume or cancel it. */
import { h } from 'preact';
import { useState } from 'preact/hooks';
import { get, post, seg } from '../api.ts';
import { dateTime } from '../format.ts';
import { NotAvailable, ProgressBar, useOptional } from '../provisioning.ts';
import { navigate, useLocation } from '../router.ts';
import { Badge, Button, LoadError, Loading, OutcomeMessage, Section, SelectField, TextField, useAction, useConfirm, useInterval, useLoad, useTitle, type ComponentChild } from '../ui.ts';
import type { StoredFile } from '../filepick.ts';
import { parseStages } from '../parse.ts';

type Counts = Record<'pending' | 'downloading' | 'succeeded' | 'failed' | 'skipped', number>;

interface Progress {
  rollout: { id: string; name: string; fileId: string; state: string; stageIndex: number; reason: string | null; createdAt: string; finishedAt: string | null; maxConcurrent: number; stages: { name?: string; count?: number; percent?: number }[] };
  counts: Counts;
  total: number;
  stages: { index: number; name: string | null; size: number; counts: Counts }[];
  windowOpen: boolean;
}

interface RolloutDevice {
  deviceId: string;
  stage: number;
  state: string;
  fromVersion: string | null;
  detail: string | null;
  faultCode: number | null;
}

const REFRESH_MS = 5000;

function NewRollout(props: { files: StoredFile[]; onCreated: (id: string) => void }): ComponentChild {
  const firmware = props.files.filter((f) => f.fileType.startsWith('1 '));
  const [name, setName] = useState('');
  const [fileId, setFileId] = useState('');
  const [productClass, setProductClass] = useState('');
  const [tag, setTag] = useState('');
  const [stages, setStages] = useState('1, 10%, 100%');
  const [maxConcurrent, setMaxConcurrent] = useState('50');
  const [failures, setFailures] = useState('5%');
  const action = useAction();
  const chosen = fileId || firmware[0]?.id || '';
  const submit = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      const parsed = parseStages(stages);
      if ('error' in parsed) return { kind: 'error', text: parsed.error };
      const fm = /^(\d+(?:\.\d+)?)(%?)$/.exec(failures.trim());
      if (!fm) return { kind: 'error', text: 'The failure threshold must be a count (5) or a percentage (5%).' };
      const file = firmware.find((f) => f.id === chosen);
      const target: Record<string, unknown> = {};
      const model = productClass.trim() || file?.productClass;
      if (model) target.productClass = [model];
      if (tag.trim()) target.tags = { all: [tag.trim()] };
      const created = await post<Progress>('/api/rollouts', {
        name: name.trim(),
        fileId: chosen,
        target,
        stages: parsed.stages,
        maxConcurrent: Number(maxConcurrent),
        failureThreshold: fm[2] ? { percent: Number(fm[1]) } : { count: Number(fm[1]) },
      });
      props.onCreated(created.rollout.id);
      return `Rollout "${created.rollout.name}" started on ${created.total} ${created.total === 1 ? 'device' : 'devices'}.`;
    });
  };
  if (firmware.length === 0) return h('p', { class: 'empty' }, 'Upload a firmware file first (Files page).');
  return h(
    'form',
    { class: 'inline-form', onSubmit: submit, 'aria-label': 'New rollout' },
    h(TextField, { id: 'ro-name', label: 'Name', value: name, onInput: setName, required: true }),
    h(SelectField, { id: 'ro-file', label: 'Firmware', value: chosen, onChange: setFileId, options: firmware.map((f) => ({ value: f.id, label: `${f.name}${f.version ? ` (${f.version})` : ''}${f.productClass ? ` for ${f.productClass}` : ''}` })) }),
    h(TextField, { id: 'ro-model', label: 'Model', value: productClass, onInput: setProductClass, hint: 'Default: the file\'s model. Only devices of this model are targeted.' }),
    h(TextField, { id: 'ro-tag', label: 'Only devices tagged', value: tag, onInput: setTag, hint: 'Optional.' }),
    h(TextField, { id: 'ro-stages', label: 'Stages', value: stages, onInput: setStages, hint: 'Cumulative device counts or percentages, e.g. "1, 10%, 100%" (a canary, then 10 %, then all).' }),
    h(TextField, { id: 'ro-concurrency', label: 'Downloads at a time', type: 'number', min: 1, value: maxConcurrent, onInput: setMaxConcurrent }),
    h(TextField, { id: 'ro-failures', label: 'Stop after failures', value: failures, onInput: setFailures, hint: 'A count (5) or a percentage of finished devices (5%).' }),
    h('div', { class: 'form-actions' }, h(Button, { type: 'submit', kind: 'primary', busy: action.busy }, 'Start rollout')),
    h(OutcomeMessage, { outcome: action.outcome }),
  );
}

function RolloutCard(props: { p: Progress; onChanged: () => void; open: boolean }): ComponentChild {
  const r = props.p.rollout;
  const action = useAction();
  const { dialog, confirm } = useConfirm();
  const devices = useLoad((signal) => (props.open ? get<{ devices: RolloutDevice[] }>(`/api/rollouts/${seg(r.id)}/devices`, { limit: 200 }, signal) : Promise.resolve({ devices: [] })), [props.open, props.p]);
  const act = async (verb: 'pause' | 'resume' | 'cancel') => {
    if (verb === 'cancel' && !(await confirm({ title: 'Cancel rollout', text: `Cancel "${r.name}"? Devices not started yet are skipped; downloads in progress finish.`, confirmLabel: 'Cancel rollout', danger: true }))) return;
    await action.run(async () => {
      await post(`/api/rollouts/${seg(r.id)}/${verb}`);
      props.onChanged();
      return verb === 'pause' ? `"${r.name}" is paused: no new downloads start.` : verb === 'resume' ? `"${r.name}" is running again.` : `"${r.name}" was cancelled.`;
    });
  };
  const live = r.state === 'running' || r.state === 'paused';
  return h(
    'li',
    { class: 'rollout' },
    dialog,
    h(
      'div',
      { class: 'rollout-head' },
      h('h3', null, h('a', { href: `/rollouts?id=${encodeURIComponent(r.id)}` }, r.name)),
      h(Badge, { kind: r.state }, r.state),
      h('span', { class: 'muted small' }, `stage ${r.stageIndex + 1} of ${r.stages.length} · started ${dateTime(r.createdAt)}${r.reason ? ` · ${r.reason}` : ''}${props.p.windowOpen ? '' : ' · outside its time window'}`),
    ),
    h(ProgressBar, { counts: props.p.counts, total: props.p.total, label: `Progress of ${r.name}` }),
    live
      ? h(
          'div',
          { class: 'row-actions' },
          r.state === 'running' ? h(Button, { small: true, onClick: () => void act('pause'), busy: action.busy }, 'Pause') : h(Button, { small: true, onClick: () => void act('resume'), busy: action.busy }, 'Resume'),
          h(Button, { small: true, kind: 'danger', onClick: () => void act('cancel'), busy: action.busy }, 'Cancel'),
        )
      : null,
    h(OutcomeMessage, { outcome: action.outcome }),
    props.open && devices.data
      ? h(
          'table',
          { class: 'table' },
          h('caption', { class: 'visually-hidden' }, `Devices of ${r.name}`),
          h('thead', null, h('tr', null, ['Device', 'Stage', 'State', 'From version', 'Detail'].map((c) => h('th', { scope: 'col', key: c }, c)))),
          h(
            'tbody',
            null,
            devices.data.devices.map((d) =>
              h(
                'tr',
                { key: d.deviceId },
                h('th', { scope: 'row' }, h('a', { href: `/devices/${encodeURIComponent(d.deviceId)}` }, d.deviceId)),
                h('td', null, String(d.stage + 1)),
                h('td', null, h(Badge, { kind: d.state }, d.state)),
                h('td', null, d.fromVersion ?? '—'),
                h('td', null, d.faultCode !== null ? `fault ${d.faultCode}: ` : '', d.detail ?? ''),
              ),
            ),
          ),
        )
      : null,
  );
}

export function RolloutsPage(): ComponentChild {
  useTitle('Rollouts');
  const location = useLocation();
  const openId = location.query.get('id');
  const rollouts = useOptional<{ rollouts: Progress[] }>('/api/rollouts', { limit: 50 });
  const files = useOptional<{ files: StoredFile[] }>('/api/files', { fileType: '1 Firmware Upgrade Image', limit: 200 });
  useInterval(() => rollouts.reload(), REFRESH_MS);
  const available = rollouts.data?.available;
  const list = rollouts.data?.value?.rollouts ?? [];
  return h(
    'div',
    { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', null, 'Rollouts'), h('p', { class: 'muted' }, 'Staged firmware upgrades: a canary first, then growing stages; they stop by themselves when too many devices fail.')),
    h(LoadError, { error: rollouts.error ?? files.error }),
    !rollouts.data && rollouts.loading ? h(Loading, null) : null,
    available === false ? h(NotAvailable, { what: 'Rollouts' }) : null,
    available ? h(Section, { id: 'rollout-new', title: 'New rollout' }, h(NewRollout, { files: files.data?.value?.files ?? [], onCreated: (id) => (rollouts.reload(), navigate(`/rollouts?id=${encodeURIComponent(id)}`)) })) : null,
    available
      ? h(
          Section,
          { id: 'rollout-list', title: 'Rollouts' },
          list.length === 0 ? h('p', { class: 'empty' }, 'No rollouts yet.') : h('ul', { class: 'list' }, list.map((p) => h(RolloutCard, { key: p.rollout.id, p, onChanged: rollouts.reload, open: p.rollout.id === openId }))),
        )
      : null,
  );
}
