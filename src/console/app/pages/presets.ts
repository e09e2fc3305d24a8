/**
 * Presets: the desired state of devices as JSON. Edit with validation by the server (its sentences
 * name the field) and a dry run on one device that shows what would change, before saving.
 */
import { h } from 'preact';
import { useState } from 'preact/hooks';
import { del, post, put, seg } from '../api.ts';
import { dateTime } from '../format.ts';
import { NotAvailable, useOptional } from '../provisioning.ts';
import { Badge, Button, LoadError, Loading, OutcomeMessage, Section, TextArea, TextField, useAction, useConfirm, useTitle, type ComponentChild } from '../ui.ts';

interface Preset {
  id: string;
  name: string;
  description?: string;
  enabled: boolean;
  weight: number;
  triggers: string[];
  precondition: unknown;
  desired: unknown;
  schedule?: unknown;
  revision: number;
  updatedAt: string;
}

interface Change {
  name: string;
  from: string | null;
  to: string;
  preset: string;
  secret: boolean;
}

interface DryRun {
  deviceId: string;
  presets: { id: string; name: string; applies: boolean; reasons: string[] }[];
  changes: {
    set: Change[];
    read: string[];
    addObjects: { table: string; count: number }[];
    deleteObjects: string[];
    downloads: { kind: string; fileName: string; version: string | null; reason: string }[];
    tags: { add: string[]; remove: string[] };
  };
  unchanged: number;
  skipped: { name: string; reason: string }[];
  issues: string[];
}

const TEMPLATE = {
  name: 'sip-proxy',
  description: 'Every phone registers to our SIP proxy',
  enabled: true,
  weight: 0,
  precondition: { productClass: ['GXP2140', 'GXP2170'] },
  triggers: ['bootstrap', 'boot', 'periodic'],
  desired: {
    parameters: [{ name: 'Device.Services.VoiceService.1.VoiceProfile.1.SIP.ProxyServer', value: 'sip.example.net' }],
  },
};

/** The editable part of a stored preset. */
function specOf(p: Preset): Record<string, unknown> {
  const { id: _id, revision: _r, updatedAt: _u, ...rest } = p as Preset & { createdAt?: string };
  delete (rest as { createdAt?: string }).createdAt;
  return rest;
}

/** Parses the editor's text. @returns the object, or a sentence with the position of the mistake. */
function parseJson(text: string): { value: unknown } | { error: string } {
  try {
    return { value: JSON.parse(text) };
  } catch (err) {
    return { error: `The preset is not valid JSON: ${(err as Error).message}.` };
  }
}

function DryRunReport(props: { report: DryRun }): ComponentChild {
  const r = props.report;
  const c = r.changes;
  const nothing = c.set.length + c.read.length + c.addObjects.length + c.deleteObjects.length + c.downloads.length + c.tags.add.length + c.tags.remove.length === 0;
  return h(
    'div',
    { class: 'dry-run', role: 'region', 'aria-label': `Dry run on ${r.deviceId}` },
    h('h3', null, `Dry run on ${r.deviceId}`),
    h('ul', { class: 'list' }, r.presets.map((p) => h('li', { key: p.id }, h(Badge, { kind: p.applies ? 'online' : 'never' }, p.applies ? 'applies' : 'does not apply'), ` ${p.name}`, p.reasons.length ? h('span', { class: 'muted small' }, ` — ${p.reasons.join('; ')}`) : null))),
    nothing ? h('p', null, `Nothing would change (${r.unchanged} values already as desired).`) : null,
    c.set.length
      ? h(
          'table',
          { class: 'table' },
          h('caption', null, `Values that would be set (${r.unchanged} already as desired)`),
          h('thead', null, h('tr', null, ['Parameter', 'Now', 'Would be', 'Preset'].map((x) => h('th', { scope: 'col', key: x }, x)))),
          h('tbody', null, c.set.map((s) => h('tr', { key: s.name }, h('th', { scope: 'row' }, h('code', null, s.name)), h('td', null, s.secret ? '(secret)' : s.from === null ? h('em', { class: 'muted' }, 'unknown') : s.from === '' ? h('em', { class: 'muted' }, 'empty') : s.from), h('td', null, s.secret ? '(secret)' : s.to), h('td', null, s.preset)))),
        )
      : null,
    c.read.length ? h('p', null, `Read from the device first: ${c.read.join(', ')}`) : null,
    c.addObjects.length ? h('p', null, `Objects to add: ${c.addObjects.map((a) => `${a.count} × ${a.table}`).join(', ')}`) : null,
    c.deleteObjects.length ? h('p', null, `Objects to delete: ${c.deleteObjects.join(', ')}`) : null,
    c.downloads.length ? h('p', null, `Downloads: ${c.downloads.map((d) => `${d.fileName}${d.version ? ` (${d.version})` : ''} — ${d.reason}`).join('; ')}`) : null,
    c.tags.add.length || c.tags.remove.length ? h('p', null, `Tags: ${[...c.tags.add.map((t) => `+${t}`), ...c.tags.remove.map((t) => `−${t}`)].join(' ')}`) : null,
    r.skipped.length ? h('p', { class: 'muted' }, `Skipped: ${r.skipped.map((s) => `${s.name} (${s.reason})`).join('; ')}`) : null,
    r.issues.length ? h('p', { class: 'outcome outcome-error' }, `Issues: ${r.issues.join('; ')}`) : null,
  );
}

function Editor(props: { preset: Preset | null; onSaved: () => void; onClose: () => void }): ComponentChild {
  const [text, setText] = useState(JSON.stringify(props.preset ? specOf(props.preset) : TEMPLATE, null, 2));
  const [deviceId, setDeviceId] = useState('');
  const [report, setReport] = useState<DryRun | null>(null);
  const [jsonError, setJsonError] = useState<string | null>(null);
  const save = useAction();
  const dry = useAction();
  const parse = () => {
    const parsed = parseJson(text);
    setJsonError('error' in parsed ? parsed.error : null);
    return parsed;
  };
  const doSave = (e: Event) => {
    e.preventDefault();
    void save.run(async () => {
      const parsed = parse();
      if ('error' in parsed) return { kind: 'error', text: parsed.error };
      const saved = props.preset ? await put<Preset>(`/api/presets/${seg(props.preset.id)}`, parsed.value) : await post<Preset>('/api/presets', parsed.value);
      props.onSaved();
      return `Preset "${saved.name}" was saved (revision ${saved.revision}).`;
    });
  };
  const doDryRun = () =>
    void dry.run(async () => {
      const parsed = parse();
      if ('error' in parsed) return { kind: 'error', text: parsed.error };
      if (!deviceId.trim()) return { kind: 'error', text: 'Give the id of a device for the dry run.' };
      const r = await post<DryRun>(`/api/devices/${seg(deviceId.trim())}/provisioning/dry-run`, { presets: [parsed.value] });
      setReport(r);
      return `Dry run done: ${r.changes.set.length} ${r.changes.set.length === 1 ? 'value' : 'values'} would be set.`;
    });
  return h(
    'form',
    { class: 'inline-form', onSubmit: doSave, 'aria-label': props.preset ? `Edit preset ${props.preset.name}` : 'New preset' },
    h(TextArea, {
      id: 'preset-json',
      label: props.preset ? `Preset ${props.preset.name} (JSON)` : 'New preset (JSON)',
      value: text,
      onInput: (v) => {
        setText(v);
        setJsonError(null);
        save.clear();
      },
      rows: 18,
      error: jsonError,
      hint: 'Fields: name, description, enabled, weight, precondition (productClass, tags, softwareVersion, parameters…), triggers, schedule, desired (parameters, objects, firmware, configFile, tags). Values may use {{ variables }}.',
    }),
    h(
      'div',
      { class: 'row' },
      h(TextField, { id: 'preset-device', label: 'Device for a dry run', value: deviceId, onInput: setDeviceId, placeholder: '000B82-GXP2140-000B82000001' }),
      h(Button, { onClick: doDryRun, busy: dry.busy }, 'Dry run'),
    ),
    h(OutcomeMessage, { outcome: dry.outcome }),
    report ? h(DryRunReport, { report }) : null,
    h('div', { class: 'form-actions' }, h(Button, { type: 'submit', kind: 'primary', busy: save.busy }, 'Save preset'), h(Button, { onClick: props.onClose }, 'Close')),
    h(OutcomeMessage, { outcome: save.outcome }),
  );
}

export function PresetsPage(): ComponentChild {
  useTitle('Presets');
  const presets = useOptional<{ presets: Preset[] }>('/api/presets');
  const [editing, setEditing] = useState<Preset | 'new' | null>(null);
  const remove = useAction();
  const { dialog, confirm } = useConfirm();
  const doDelete = async (p: Preset) => {
    if (!(await confirm({ title: 'Delete preset', text: `Delete the preset "${p.name}"? Devices keep their values; nothing is enforced any more.`, confirmLabel: 'Delete', danger: true }))) return;
    await remove.run(async () => {
      await del(`/api/presets/${seg(p.id)}`);
      presets.reload();
      return `Preset "${p.name}" was deleted.`;
    });
  };
  const available = presets.data?.available;
  const list = presets.data?.value?.presets ?? [];
  return h(
    'div',
    { class: 'page' },
    dialog,
    h('div', { class: 'page-head' }, h('h1', null, 'Presets'), h('p', { class: 'muted' }, 'Desired values applied to matching devices in their sessions.')),
    h(LoadError, { error: presets.error }),
    !presets.data && presets.loading ? h(Loading, null) : null,
    available === false ? h(NotAvailable, { what: 'Presets' }) : null,
    available
      ? h(
          Section,
          { id: 'preset-list', title: 'Presets', actions: editing === null ? h(Button, { kind: 'primary', onClick: () => setEditing('new') }, 'New preset') : null },
          editing !== null ? h(Editor, { key: editing === 'new' ? 'new' : editing.id, preset: editing === 'new' ? null : editing, onSaved: presets.reload, onClose: () => setEditing(null) }) : null,
          h(OutcomeMessage, { outcome: remove.outcome }),
          list.length === 0
            ? h('p', { class: 'empty' }, 'No presets yet.')
            : h(
                'table',
                { class: 'table' },
                h('thead', null, h('tr', null, ['Name', 'State', 'Weight', 'Triggers', 'Changed', 'Actions'].map((c) => h('th', { scope: 'col', key: c }, c)))),
                h(
                  'tbody',
                  null,
                  list.map((p) =>
                    h(
                      'tr',
                      { key: p.id },
                      h('th', { scope: 'row' }, p.name, p.description ? h('div', { class: 'muted small' }, p.description) : null),
                      h('td', null, h(Badge, { kind: p.enabled ? 'online' : 'never' }, p.enabled ? 'enabled' : 'disabled')),
                      h('td', { class: 'num' }, String(p.weight)),
                      h('td', null, p.triggers.join(', ') || 'schedule'),
                      h('td', null, `${dateTime(p.updatedAt)} (rev. ${p.revision})`),
                      h('td', null, h('div', { class: 'row-actions' }, h(Button, { small: true, onClick: () => setEditing(p), 'aria-label': `Edit ${p.name}` }, 'Edit'), h(Button, { small: true, kind: 'danger', onClick: () => void doDelete(p), 'aria-label': `Delete ${p.name}` }, 'Delete'))),
                    ),
                  ),
                ),
              ),
        )
      : null,
  );
}
