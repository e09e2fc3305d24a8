/**
 * One device: identity and status, actions (connect now, reboot, factory reset, refresh, push a
 * file, delete), tags, the parameter tree, and a timeline of its sessions, tasks and faults that
 * updates live while the page is open.
 */
import { h, type ComponentChild } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { del, get, patch, post, put, roleAtLeast, seg } from '../api.ts';
import { useApp } from '../context.ts';
import { downloadPayload, PushFileForm, type PushChoice } from '../filepick.ts';
import { ago, contactStatus, dateTime } from '../format.ts';
import { navigate } from '../router.ts';
import { openStream, type StreamState } from '../sse.ts';
import { describeTaskAnswer, queueTask, taskName } from '../tasks.ts';
import { ParameterTree } from '../tree.ts';
import type { ConnectionRequestResult, Device, Fault, Parameter, SessionRecord, Task } from '../types.ts';
import { Badge, Button, Empty, LoadError, Loading, OutcomeMessage, Section, TextField, useAction, useConfirm, useInterval, useLoad, useTitle } from '../ui.ts';

const TIMELINE_LIMIT = 25;
/** Live events arrive in bursts (one per RPC); reload once per burst. */
const RELOAD_DEBOUNCE_MS = 400;
const ACTION_WAIT_MS = 30_000;
const FALLBACK_POLL_MS = 30_000;

type TimelineEntry =
  | { kind: 'session'; at: string; session: SessionRecord }
  | { kind: 'task'; at: string; task: Task }
  | { kind: 'fault'; at: string; fault: Fault };

function intervalOf(params: Parameter[] | undefined): number | null {
  const p = params?.find((x) => x.name.endsWith('.ManagementServer.PeriodicInformInterval'));
  const n = p?.value ? Number(p.value) : NaN;
  return Number.isFinite(n) && n > 0 ? n : null;
}

function Identity(props: { device: Device; interval: number | null }): ComponentChild {
  const d = props.device;
  const app = useApp();
  const status = contactStatus(d.lastContact, app.rule, props.interval);
  const rows: [string, ComponentChild][] = [
    ['Status', h('span', null, h(Badge, { kind: status }, status), ` last contact ${ago(d.lastContact)} (${dateTime(d.lastContact)})`)],
    ['Model', `${d.manufacturer} ${d.productClass}`.trim()],
    ['Serial number', d.serialNumber],
    ['OUI', d.oui],
    ['Firmware', d.softwareVersion ?? '—'],
    ['Hardware', d.hardwareVersion ?? '—'],
    ['Address', d.sourceAddress ?? '—'],
    ['Periodic inform', props.interval ? `every ${props.interval} s` : 'unknown'],
    ['Connection request URL', d.connectionRequestUrl ?? '—'],
    ['CWMP version', d.cwmpVersion ?? '—'],
    ['First contact', dateTime(d.firstContact)],
    ['Last boot', dateTime(d.lastBoot)],
  ];
  return h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', { key: `${k}-t` }, k), h('dd', { key: `${k}-d` }, v)]));
}

function Tags(props: { device: Device; onChange: () => void }): ComponentChild {
  const [text, setText] = useState('');
  const action = useAction();
  const id = props.device.id;
  const add = (e: Event) => {
    e.preventDefault();
    const t = text.trim();
    if (!t) return;
    void action.run(async () => {
      await put(`/api/devices/${seg(id)}/tags/${seg(t)}`);
      setText('');
      props.onChange();
      return `Tag "${t}" added.`;
    });
  };
  const remove = (t: string) =>
    void action.run(async () => {
      await del(`/api/devices/${seg(id)}/tags/${seg(t)}`);
      props.onChange();
      return `Tag "${t}" removed.`;
    });
  return h(
    'div',
    { class: 'tags-editor' },
    props.device.tags.length === 0 ? h('p', { class: 'muted' }, 'No tags.') : null,
    h(
      'ul',
      { class: 'inline-list' },
      props.device.tags.map((t) => h('li', { key: t }, h('span', { class: 'tag' }, t, ' ', h('button', { type: 'button', class: 'tag-remove', 'aria-label': `Remove tag ${t}`, onClick: () => remove(t) }, '×')))),
    ),
    h('form', { class: 'inline-form row', onSubmit: add, 'aria-label': 'Add a tag' }, h(TextField, { id: 'tag-new', label: 'New tag', value: text, onInput: setText }), h(Button, { type: 'submit', busy: action.busy }, 'Add tag')),
    h(OutcomeMessage, { outcome: action.outcome }),
  );
}

/** Admins set the credentials the device and the ACS use (passwords are write-only here). */
function Credentials(props: { device: Device; onChange: () => void }): ComponentChild {
  const c = props.device.credentials;
  const [form, setForm] = useState({ acsUsername: c.acsUsername ?? '', acsPassword: '', connectionRequestUsername: c.connectionRequestUsername ?? '', connectionRequestPassword: '' });
  const action = useAction();
  const set = (k: keyof typeof form) => (v: string) => setForm((f) => ({ ...f, [k]: v }));
  const submit = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      const credentials: Record<string, string | null> = {
        acsUsername: form.acsUsername.trim() || null,
        connectionRequestUsername: form.connectionRequestUsername.trim() || null,
      };
      // An empty password field keeps the stored password.
      if (form.acsPassword) credentials.acsPassword = form.acsPassword;
      if (form.connectionRequestPassword) credentials.connectionRequestPassword = form.connectionRequestPassword;
      await patch(`/api/devices/${seg(props.device.id)}`, { credentials });
      setForm((f) => ({ ...f, acsPassword: '', connectionRequestPassword: '' }));
      props.onChange();
      return 'The credentials were saved.';
    });
  };
  return h(
    'form',
    { class: 'inline-form', onSubmit: submit, 'aria-label': 'Device credentials' },
    h(TextField, { id: 'cred-acs-user', label: 'ACS username (the device logs in with it)', value: form.acsUsername, onInput: set('acsUsername') }),
    h(TextField, { id: 'cred-acs-pass', label: 'ACS password', type: 'password', value: form.acsPassword, onInput: set('acsPassword'), autoComplete: 'new-password', hint: c.acsPasswordSet ? 'Set; leave empty to keep it.' : 'Not set.' }),
    h(TextField, { id: 'cred-cr-user', label: 'Connection request username', value: form.connectionRequestUsername, onInput: set('connectionRequestUsername') }),
    h(TextField, { id: 'cred-cr-pass', label: 'Connection request password', type: 'password', value: form.connectionRequestPassword, onInput: set('connectionRequestPassword'), autoComplete: 'new-password', hint: c.connectionRequestPasswordSet ? 'Set; leave empty to keep it.' : 'Not set.' }),
    h('div', { class: 'form-actions' }, h(Button, { type: 'submit', kind: 'primary', busy: action.busy }, 'Save credentials')),
    h(OutcomeMessage, { outcome: action.outcome }),
  );
}

function eventsText(s: SessionRecord): string {
  return s.events.map((e) => e.eventCode + (e.commandKey ? ` (${e.commandKey})` : '')).join(', ') || 'no events';
}

function TimelineItem(props: { entry: TimelineEntry; onCancel: (t: Task) => void }): ComponentChild {
  const e = props.entry;
  if (e.kind === 'session') {
    const s = e.session;
    return h(
      'li',
      { class: `tl tl-session tl-${s.outcome}` },
      h('time', { dateTime: s.startedAt }, dateTime(s.startedAt)),
      h(Badge, { kind: 'session' }, 'Session'),
      h('span', { class: 'tl-text' }, `Inform: ${eventsText(s)} — ${s.outcome}, ${s.rpcCount} ${s.rpcCount === 1 ? 'RPC' : 'RPCs'}${s.detail ? ` (${s.detail})` : ''}`),
    );
  }
  if (e.kind === 'task') {
    const t = e.task;
    const fault = t.status === 'failed' ? ` — ${t.faultCode !== null ? `fault ${t.faultCode}: ` : ''}${t.faultString ?? ''}` : '';
    return h(
      'li',
      { class: `tl tl-task tl-${t.status}` },
      h('time', { dateTime: e.at }, dateTime(e.at)),
      h(Badge, { kind: t.status }, `Task ${t.status}`),
      h('span', { class: 'tl-text' }, `${taskName(t.type)} (${t.type})${fault}`, t.attempts > 1 ? ` after ${t.attempts} attempts` : ''),
      t.status === 'pending' ? h(Button, { small: true, kind: 'link', onClick: () => props.onCancel(t), 'aria-label': `Cancel the ${t.type} task` }, 'Cancel') : null,
    );
  }
  const f = e.fault;
  return h('li', { class: 'tl tl-fault' }, h('time', { dateTime: f.at }, dateTime(f.at)), h(Badge, { kind: 'fault' }, `Fault ${f.code}`), h('span', { class: 'tl-text' }, `${f.message} (${f.source})`));
}

export function DevicePage(props: { id: string }): ComponentChild {
  const id = props.id;
  const app = useApp();
  useTitle(`Device ${id}`);
  const device = useLoad((signal) => get<Device>(`/api/devices/${seg(id)}`, undefined, signal), [id]);
  const params = useLoad((signal) => get<{ parameters: Parameter[] }>(`/api/devices/${seg(id)}/parameters`, undefined, signal).then((a) => a.parameters), [id]);
  const timeline = useLoad(async (signal) => {
    const [sessions, tasks, faults] = await Promise.all([
      get<{ sessions: SessionRecord[] }>(`/api/devices/${seg(id)}/events`, { limit: TIMELINE_LIMIT }, signal),
      get<{ tasks: Task[] }>(`/api/devices/${seg(id)}/tasks`, { limit: TIMELINE_LIMIT, order: 'desc' }, signal),
      get<{ faults: Fault[] }>('/api/faults', { deviceId: id, limit: TIMELINE_LIMIT }, signal),
    ]);
    const entries: TimelineEntry[] = [
      ...sessions.sessions.map((s): TimelineEntry => ({ kind: 'session', at: s.startedAt, session: s })),
      ...tasks.tasks.map((t): TimelineEntry => ({ kind: 'task', at: t.finishedAt ?? t.startedAt ?? t.createdAt, task: t })),
      ...faults.faults.map((f): TimelineEntry => ({ kind: 'fault', at: f.at, fault: f })),
    ];
    return entries.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
  }, [id]);
  const [live, setLive] = useState<StreamState>('connecting');
  const action = useAction();
  const [pushOpen, setPushOpen] = useState(false);
  const { dialog, confirm } = useConfirm();
  const pending = useRef<{ timeline: boolean; device: boolean; timer?: ReturnType<typeof setTimeout> }>({ timeline: false, device: false });

  useEffect(() => {
    const flush = () => {
      const p = pending.current;
      if (p.timeline) timeline.reload();
      if (p.device) {
        device.reload();
        params.reload();
      }
      p.timeline = p.device = false;
      p.timer = undefined;
    };
    const close = openStream(
      `/api/events/stream?device=${encodeURIComponent(id)}`,
      (e) => {
        const p = pending.current;
        if (e.event === 'task' || e.event === 'session') p.timeline = true;
        if (e.event === 'device' || (e.event === 'session' && (e.data as { phase?: string }).phase === 'ended')) p.device = true;
        if ((p.timeline || p.device) && !p.timer) p.timer = setTimeout(flush, RELOAD_DEBOUNCE_MS);
      },
      setLive,
    );
    return () => {
      close();
      clearTimeout(pending.current.timer);
    };
  }, [id]);

  // The event stream carries what this server process sees; with several ACS processes a device's
  // session may be served by another one, so the page also looks again now and then.
  useInterval(() => {
    timeline.reload();
    device.reload();
  }, FALLBACK_POLL_MS);

  const runTask = (payload: Record<string, unknown>, doneText: string) =>
    void action.run(async () => {
      const answer = await queueTask(id, payload, ACTION_WAIT_MS);
      timeline.reload();
      return describeTaskAnswer(answer, doneText);
    });

  const connectNow = () =>
    void action.run(async () => {
      const r = await post<ConnectionRequestResult & { deviceId: string }>(`/api/console/devices/${seg(id)}/connection-request`);
      return r.status === 'ok' ? { kind: 'success', text: `The device accepted the connection request (${r.transport}); a session follows.` } : { kind: 'error', text: `The connection request did not get through (${r.status}): ${r.detail}` };
    });
  const reboot = async () => {
    if (await confirm({ title: 'Reboot the device', text: `Reboot ${id}? Calls in progress are dropped.`, confirmLabel: 'Reboot', danger: true })) runTask({ type: 'reboot' }, 'The device accepted the reboot; it informs with 1 BOOT when it is back.');
  };
  const factoryReset = async () => {
    if (await confirm({ title: 'Factory reset', text: `Reset ${id} to factory defaults? Its configuration is erased; it comes back with 0 BOOTSTRAP.`, confirmLabel: 'Factory reset', danger: true }))
      runTask({ type: 'factoryReset' }, 'The device accepted the factory reset.');
  };
  const refreshAll = () =>
    void action.run(async () => {
      const answer = await queueTask(id, { type: 'refresh', path: '' }, ACTION_WAIT_MS);
      params.reload();
      timeline.reload();
      return describeTaskAnswer(answer, 'All parameters were read from the device.');
    });
  const push = (choice: PushChoice) =>
    void action.run(async () => {
      const answer = await queueTask(id, downloadPayload(choice), ACTION_WAIT_MS);
      setPushOpen(false);
      timeline.reload();
      return describeTaskAnswer(answer, 'The device accepted the download; it reports TRANSFER COMPLETE when it is installed.');
    });
  const remove = async () => {
    if (!(await confirm({ title: 'Delete the device', text: `Delete ${id} with its parameters, tasks, faults and sessions? If it informs again it comes back as a new device.`, confirmLabel: 'Delete', danger: true }))) return;
    const ok = await action.run(async () => {
      await del(`/api/devices/${seg(id)}`);
    });
    if (ok) navigate('/devices');
  };
  const cancelTask = (t: Task) =>
    void action.run(async () => {
      await del(`/api/tasks/${seg(t.id)}`);
      timeline.reload();
      return `The ${t.type} task was cancelled.`;
    });

  const d = device.data;
  return h(
    'div',
    { class: 'page' },
    dialog,
    h(
      'div',
      { class: 'page-head' },
      h('p', { class: 'breadcrumb' }, h('a', { href: '/devices' }, 'Devices'), ' / '),
      h('h1', null, id),
      h('p', { class: `live live-${live}`, role: 'status' }, live === 'open' ? 'Live updates on' : live === 'connecting' ? 'Connecting live updates…' : 'Live updates interrupted; reconnecting…'),
    ),
    h(LoadError, { error: device.error }),
    !d && device.loading ? h(Loading, null) : null,
    d
      ? h(
          'div',
          { class: 'columns columns-wide' },
          h(Section, { id: 'identity', title: 'Identity and status' }, h(Identity, { device: d, interval: intervalOf(params.data) })),
          h(
            Section,
            { id: 'actions', title: 'Actions' },
            h(
              'div',
              { class: 'action-bar' },
              h(Button, { onClick: connectNow, busy: action.busy }, 'Connect now'),
              h(Button, { onClick: refreshAll, busy: action.busy }, 'Refresh parameters'),
              h(Button, { onClick: () => void reboot(), busy: action.busy }, 'Reboot'),
              h(Button, { onClick: () => setPushOpen(!pushOpen), 'aria-expanded': pushOpen }, 'Push firmware or config…'),
              h(Button, { kind: 'danger', onClick: () => void factoryReset(), busy: action.busy }, 'Factory reset'),
              h(Button, { kind: 'danger', onClick: () => void remove(), busy: action.busy }, 'Delete device'),
            ),
            pushOpen ? h(PushFileForm, { onPush: push, busy: action.busy, onCancel: () => setPushOpen(false) }) : null,
            h(OutcomeMessage, { outcome: action.outcome }),
            h('h3', null, 'Tags'),
            h(Tags, { device: d, onChange: device.reload }),
            roleAtLeast(app.session.role, 'admin') ? h('details', { class: 'credentials' }, h('summary', null, 'Credentials'), h(Credentials, { device: d, onChange: device.reload })) : null,
          ),
        )
      : null,
    d
      ? h(
          'div',
          { class: 'columns columns-wide' },
          h(
            Section,
            { id: 'parameters', title: 'Parameters', class: 'grow' },
            h(LoadError, { error: params.error }),
            params.data ? h(ParameterTree, { deviceId: id, params: params.data, reload: params.reload }) : h(Loading, null),
          ),
          h(
            Section,
            { id: 'timeline', title: 'Timeline' },
            h(LoadError, { error: timeline.error }),
            timeline.data && timeline.data.length === 0 ? h(Empty, null, 'No sessions, tasks or faults yet.') : null,
            timeline.data ? h('ol', { class: 'timeline', 'aria-label': 'Sessions, tasks and faults, newest first' }, timeline.data.map((e) => h(TimelineItem, { key: `${e.kind}-${e.kind === 'session' ? e.session.id : e.kind === 'task' ? e.task.id : e.fault.id}`, entry: e, onCancel: cancelTask }))) : null,
          ),
        )
      : null,
  );
}
