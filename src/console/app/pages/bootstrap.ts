/** Bootstrap records (admin): zero-touch settings per serial number or MAC, and the unknown-device policy. */
import { h } from 'preact';
import { useState } from 'preact/hooks';
import { del, put, seg } from '../api.ts';
import { dateTime } from '../format.ts';
import { NotAvailable, useOptional } from '../provisioning.ts';
import { Button, LoadError, Loading, OutcomeMessage, Section, SelectField, TextField, useAction, useConfirm, useTitle, type ComponentChild } from '../ui.ts';

interface BootstrapRecord {
  key: string;
  acsUrl: string | null;
  acsUsername: string | null;
  acsPasswordSet: boolean;
  connectionRequestUsername: string | null;
  connectionRequestPasswordSet: boolean;
  periodicInformInterval: number | null;
  tags: string[];
  note: string | null;
  revision: number;
  appliedDeviceId: string | null;
  appliedAt: string | null;
}

const POLICIES = [
  { value: 'accept', label: 'accept — register and provision them' },
  { value: 'quarantine', label: 'quarantine — register with the tag "quarantine", push nothing' },
  { value: 'refuse', label: 'refuse — answer 403, store nothing' },
];

export function BootstrapPage(): ComponentChild {
  useTitle('Bootstrap records');
  const records = useOptional<{ records: BootstrapRecord[] }>('/api/bootstrap', { limit: 500 });
  const policy = useOptional<{ unknownDevices: string }>('/api/bootstrap-policy');
  const [form, setForm] = useState({ key: '', acsUsername: '', acsPassword: '', connectionRequestUsername: '', connectionRequestPassword: '', periodicInformInterval: '', tags: '', note: '' });
  const save = useAction();
  const policyAction = useAction();
  const remove = useAction();
  const { dialog, confirm } = useConfirm();
  const set = (k: keyof typeof form) => (v: string) => setForm((f) => ({ ...f, [k]: v }));
  const submit = (e: Event) => {
    e.preventDefault();
    void save.run(async () => {
      const body: Record<string, unknown> = {};
      for (const k of ['acsUsername', 'acsPassword', 'connectionRequestUsername', 'connectionRequestPassword', 'note'] as const) if (form[k].trim()) body[k] = form[k].trim();
      if (form.periodicInformInterval.trim()) body.periodicInformInterval = Number(form.periodicInformInterval);
      if (form.tags.trim()) body.tags = form.tags.split(/[\s,]+/).filter(Boolean);
      const r = await put<BootstrapRecord>(`/api/bootstrap/${seg(form.key.trim())}`, body);
      records.reload();
      setForm({ key: '', acsUsername: '', acsPassword: '', connectionRequestUsername: '', connectionRequestPassword: '', periodicInformInterval: '', tags: '', note: '' });
      return `Bootstrap record ${r.key} was saved (revision ${r.revision}); it applies at the device's first Inform.`;
    });
  };
  const setPolicy = (value: string) =>
    void policyAction.run(async () => {
      await put('/api/bootstrap-policy', { unknownDevices: value });
      policy.reload();
      return `Unknown devices are now: ${value}.`;
    });
  const doDelete = async (r: BootstrapRecord) => {
    if (!(await confirm({ title: 'Delete record', text: `Delete the bootstrap record ${r.key}?`, confirmLabel: 'Delete', danger: true }))) return;
    await remove.run(async () => {
      await del(`/api/bootstrap/${seg(r.key)}`);
      records.reload();
      return `Record ${r.key} was deleted.`;
    });
  };
  const available = records.data?.available;
  const list = records.data?.value?.records ?? [];
  return h(
    'div',
    { class: 'page' },
    dialog,
    h('div', { class: 'page-head' }, h('h1', null, 'Bootstrap records'), h('p', { class: 'muted' }, 'Zero-touch: what a new device gets at its first Inform, by serial number or MAC.')),
    h(LoadError, { error: records.error ?? policy.error }),
    !records.data && records.loading ? h(Loading, null) : null,
    available === false ? h(NotAvailable, { what: 'Bootstrap records' }) : null,
    available && policy.data?.value
      ? h(
          Section,
          { id: 'bootstrap-policy', title: 'Devices without a record' },
          h(SelectField, { id: 'bs-policy', label: 'Unknown devices', value: policy.data.value.unknownDevices, onChange: setPolicy, options: POLICIES }),
          h(OutcomeMessage, { outcome: policyAction.outcome }),
        )
      : null,
    available
      ? h(
          Section,
          { id: 'bootstrap-new', title: 'Add or replace a record' },
          h(
            'form',
            { class: 'inline-form', onSubmit: submit, 'aria-label': 'Bootstrap record' },
            h(TextField, { id: 'bs-key', label: 'Serial number or MAC', value: form.key, onInput: set('key'), required: true }),
            h(TextField, { id: 'bs-acs-user', label: 'ACS username', value: form.acsUsername, onInput: set('acsUsername') }),
            h(TextField, { id: 'bs-acs-pass', label: 'ACS password', type: 'password', value: form.acsPassword, onInput: set('acsPassword'), autoComplete: 'new-password' }),
            h(TextField, { id: 'bs-cr-user', label: 'Connection request username', value: form.connectionRequestUsername, onInput: set('connectionRequestUsername') }),
            h(TextField, { id: 'bs-cr-pass', label: 'Connection request password', type: 'password', value: form.connectionRequestPassword, onInput: set('connectionRequestPassword'), autoComplete: 'new-password' }),
            h(TextField, { id: 'bs-interval', label: 'Periodic inform interval (s)', type: 'number', min: 1, value: form.periodicInformInterval, onInput: set('periodicInformInterval') }),
            h(TextField, { id: 'bs-tags', label: 'Tags', value: form.tags, onInput: set('tags'), hint: 'Separated by spaces or commas.' }),
            h(TextField, { id: 'bs-note', label: 'Note', value: form.note, onInput: set('note') }),
            h('div', { class: 'form-actions' }, h(Button, { type: 'submit', kind: 'primary', busy: save.busy }, 'Save record')),
            h(OutcomeMessage, { outcome: save.outcome }),
          ),
        )
      : null,
    available
      ? h(
          Section,
          { id: 'bootstrap-list', title: 'Records' },
          h(OutcomeMessage, { outcome: remove.outcome }),
          list.length === 0
            ? h('p', { class: 'empty' }, 'No records yet.')
            : h(
                'table',
                { class: 'table' },
                h('thead', null, h('tr', null, ['Key', 'Credentials', 'Interval', 'Tags', 'Applied', 'Actions'].map((c) => h('th', { scope: 'col', key: c }, c)))),
                h(
                  'tbody',
                  null,
                  list.map((r) =>
                    h(
                      'tr',
                      { key: r.key },
                      h('th', { scope: 'row' }, r.key, r.note ? h('div', { class: 'muted small' }, r.note) : null),
                      h('td', null, [r.acsUsername ? `ACS ${r.acsUsername}${r.acsPasswordSet ? ' (password set)' : ''}` : null, r.connectionRequestUsername ? `CR ${r.connectionRequestUsername}${r.connectionRequestPasswordSet ? ' (password set)' : ''}` : null].filter(Boolean).join('; ') || '—'),
                      h('td', null, r.periodicInformInterval ? `${r.periodicInformInterval} s` : '—'),
                      h('td', null, r.tags.map((t) => h('span', { class: 'tag', key: t }, t))),
                      h('td', null, r.appliedDeviceId ? h('span', null, h('a', { href: `/devices/${encodeURIComponent(r.appliedDeviceId)}` }, r.appliedDeviceId), ` ${dateTime(r.appliedAt)}`) : 'not yet'),
                      h('td', null, h(Button, { small: true, kind: 'danger', onClick: () => void doDelete(r), 'aria-label': `Delete ${r.key}` }, 'Delete')),
                    ),
                  ),
                ),
              ),
        )
      : null,
  );
}
