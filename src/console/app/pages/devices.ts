/**
 * Devices: search by id, model, firmware, tag, last contact or any parameter value; sort; cursor
 * pagination (the server never loads more than a page); select many and reboot, push a file, tag
 * or delete them.
 */
import { h, type ComponentChild } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { del, get, put, seg } from '../api.ts';
import { useApp } from '../context.ts';
import { ago, contactStatus, dateTime, num } from '../format.ts';
import { downloadPayload, PushFileForm, type PushChoice } from '../filepick.ts';
import { navigate, useLocation } from '../router.ts';
import { describeBulk, forEachDevice, queueTask } from '../tasks.ts';
import { parseSearch } from '../parse.ts';
import type { DevicePage } from '../types.ts';
import { Badge, Button, Empty, LoadError, Loading, OutcomeMessage, Pager, Section, SelectField, TextField, useAction, useConfirm, useLoad, useTitle } from '../ui.ts';

const SORTABLE: { field: string; label: string }[] = [
  { field: 'id', label: 'Device' },
  { field: 'productClass', label: 'Model' },
  { field: 'softwareVersion', label: 'Firmware' },
  { field: 'lastContact', label: 'Last contact' },
];

const OPS = [
  { value: 'eq', label: 'equals' },
  { value: 'ne', label: 'does not equal' },
  { value: 'prefix', label: 'starts with' },
  { value: 'lt', label: 'less than' },
  { value: 'gt', label: 'greater than' },
  { value: 'lte', label: 'at most' },
  { value: 'gte', label: 'at least' },
];

const CONTACT = [
  { value: '', label: 'any time' },
  { value: '15m', label: 'in the last 15 minutes' },
  { value: '1h', label: 'in the last hour' },
  { value: '1d', label: 'in the last day' },
  { value: 'not1d', label: 'not in the last day' },
];
const CONTACT_MS: Record<string, number> = { '15m': 15 * 60_000, '1h': 3_600_000, '1d': 86_400_000, not1d: 86_400_000 };

/** Parameters operators look for most, offered as suggestions. */
const COMMON_PARAMETERS = [
  'Device.DeviceInfo.SoftwareVersion',
  'Device.DeviceInfo.ModelName',
  'Device.ManagementServer.PeriodicInformInterval',
  'Device.Services.VoiceService.1.VoiceProfile.1.Line.1.SIP.AuthUserName',
  'Device.Services.VoiceService.1.VoiceProfile.1.Line.1.DirectoryNumber',
  'Device.Services.VoiceService.1.VoiceProfile.1.SIP.ProxyServer',
  'Device.Services.VoiceService.1.VoiceProfile.1.SIP.RegistrarServer',
  'InternetGatewayDevice.DeviceInfo.SoftwareVersion',
];

interface Filters {
  search: string;
  productClass: string;
  softwareVersion: string;
  tag: string;
  param: string;
  op: string;
  value: string;
  contact: string;
  sort: string;
  order: string;
  limit: string;
}

function filtersFrom(query: URLSearchParams): Filters {
  return {
    search: query.get('search') ?? '',
    productClass: query.get('productClass') ?? '',
    softwareVersion: query.get('softwareVersion') ?? '',
    tag: query.get('tag') ?? '',
    param: query.get('param') ?? '',
    op: query.get('op') ?? 'eq',
    value: query.get('value') ?? '',
    contact: query.get('contact') ?? '',
    sort: query.get('sort') ?? 'id',
    order: query.get('order') ?? 'asc',
    limit: query.get('limit') ?? '50',
  };
}

function toUrl(f: Filters): string {
  const params = new URLSearchParams();
  const defaults: Partial<Filters> = { op: 'eq', sort: 'id', order: 'asc', limit: '50' };
  for (const [k, v] of Object.entries(f)) if (v && defaults[k as keyof Filters] !== v) params.set(k, v);
  if (!f.param) params.delete('op');
  const text = params.toString();
  return `/devices${text ? `?${text}` : ''}`;
}

export function DevicesPage(): ComponentChild {
  useTitle('Devices');
  const app = useApp();
  const location = useLocation();
  const applied = useMemo(() => filtersFrom(location.query), [location.query.toString()]);
  const [draft, setDraft] = useState<Filters>(applied);
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [panel, setPanel] = useState<'none' | 'push' | 'tag' | 'untag'>('none');
  const [tagText, setTagText] = useState('');
  const bulk = useAction();
  const { dialog, confirm } = useConfirm();

  useEffect(() => {
    setDraft(applied);
    setCursors([null]);
    setSelected(new Set());
  }, [applied]);

  const cursor = cursors[cursors.length - 1];
  const searchParts = parseSearch(applied.search);
  const where: string[] = [];
  if (searchParts.where) where.push(searchParts.where);
  if (applied.param && applied.value !== '') where.push(`${applied.param} ${applied.op} ${applied.value}`);
  const contactMs = CONTACT_MS[applied.contact];
  const page = useLoad(
    (signal) =>
      get<DevicePage>(
        '/api/devices',
        {
          q: searchParts.q,
          productClass: applied.productClass,
          softwareVersion: applied.softwareVersion,
          tag: applied.tag ? [applied.tag] : undefined,
          where,
          lastContactAfter: contactMs && applied.contact !== 'not1d' ? new Date(Date.now() - contactMs).toISOString() : undefined,
          lastContactBefore: applied.contact === 'not1d' ? new Date(Date.now() - contactMs).toISOString() : undefined,
          sort: applied.sort,
          order: applied.order,
          limit: applied.limit,
          cursor: cursor ?? undefined,
        },
        signal,
      ),
    [applied, cursor],
  );
  const models = useLoad((signal) => get<{ models: { productClass: string; firmware: { softwareVersion: string | null }[] }[] }>('/api/overview', { hours: 1 }, signal), []);

  const apply = (e?: Event) => {
    e?.preventDefault();
    navigate(toUrl(draft));
  };
  const reset = () => navigate('/devices');
  const set = (key: keyof Filters) => (value: string) => setDraft((d) => ({ ...d, [key]: value }));
  const sortBy = (field: string) => {
    const order = applied.sort === field && applied.order === 'asc' ? 'desc' : 'asc';
    navigate(toUrl({ ...applied, sort: field, order }));
  };

  const devices = page.data?.devices ?? [];
  const allSelected = devices.length > 0 && devices.every((d) => selected.has(d.id));
  const toggle = (id: string) =>
    setSelected((s) => {
      const next = new Set(s);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  const ids = [...selected];

  const runBulk = async (verb: string, work: (id: string) => Promise<unknown>) => {
    await bulk.run(async () => describeBulk(verb, await forEachDevice(ids, work)));
    page.reload();
  };
  const reboot = async () => {
    if (!(await confirm({ title: 'Reboot devices', text: `Reboot ${ids.length} selected ${ids.length === 1 ? 'device' : 'devices'}? Calls in progress are dropped.`, confirmLabel: 'Reboot', danger: true }))) return;
    await runBulk('Reboot queued', (id) => queueTask(id, { type: 'reboot' }));
  };
  const push = async (choice: PushChoice) => {
    await runBulk('Download queued', (id) => queueTask(id, downloadPayload(choice)));
    setPanel('none');
  };
  const tag = async (e: Event, remove: boolean) => {
    e.preventDefault();
    const t = tagText.trim();
    if (!t) return;
    await runBulk(remove ? `Tag "${t}" removed` : `Tag "${t}" added`, (id) => (remove ? del(`/api/devices/${seg(id)}/tags/${seg(t)}`) : put(`/api/devices/${seg(id)}/tags/${seg(t)}`)));
    setPanel('none');
    setTagText('');
  };
  const remove = async () => {
    if (!(await confirm({ title: 'Delete devices', text: `Delete ${ids.length} ${ids.length === 1 ? 'device' : 'devices'} with their parameters, tasks, faults and sessions? A deleted device that informs again comes back as new.`, confirmLabel: 'Delete', danger: true }))) return;
    await runBulk('Deleted', (id) => del(`/api/devices/${seg(id)}`));
    setSelected(new Set());
  };

  const total = page.data?.total ?? 0;
  const start = (cursors.length - 1) * Number(applied.limit) + 1;
  const modelNames = models.data?.models.map((m) => m.productClass) ?? [];
  const versions = [...new Set(models.data?.models.flatMap((m) => m.firmware.map((f) => f.softwareVersion).filter((v): v is string => !!v)) ?? [])];

  return h(
    'div',
    { class: 'page' },
    dialog,
    h('div', { class: 'page-head' }, h('h1', null, 'Devices'), page.data ? h('p', { class: 'muted' }, `${num(total)} ${total === 1 ? 'device matches' : 'devices match'}`) : null),
    h(
      'form',
      { class: 'filters panel', onSubmit: apply, role: 'search', 'aria-label': 'Device search' },
      h(
        'div',
        { class: 'filter-grid' },
        h(TextField, {
          id: 'f-search',
          label: 'Search',
          value: draft.search,
          onInput: set('search'),
          placeholder: 'id, serial, or Parameter.Name=value',
          hint: 'Matches device ids (OUI-model-serial). Name=value searches a parameter value, e.g. Device.DeviceInfo.SoftwareVersion=1.0.11.6 (also !=, ^= for "starts with", <, >).',
          list: 'common-parameters',
        }),
        h(TextField, { id: 'f-model', label: 'Model', value: draft.productClass, onInput: set('productClass'), list: 'model-names' }),
        h(TextField, { id: 'f-firmware', label: 'Firmware', value: draft.softwareVersion, onInput: set('softwareVersion'), list: 'firmware-versions' }),
        h(TextField, { id: 'f-tag', label: 'Tag', value: draft.tag, onInput: set('tag') }),
        h(SelectField, { id: 'f-contact', label: 'Last contact', value: draft.contact, onChange: set('contact'), options: CONTACT }),
        h(
          'fieldset',
          { class: 'param-filter' },
          h('legend', null, 'Parameter value'),
          h(TextField, { id: 'f-param', label: 'Parameter', value: draft.param, onInput: set('param'), list: 'common-parameters', placeholder: 'Device.…' }),
          h(SelectField, { id: 'f-op', label: 'Condition', value: draft.op, onChange: set('op'), options: OPS }),
          h(TextField, { id: 'f-value', label: 'Value', value: draft.value, onInput: set('value') }),
        ),
      ),
      h('datalist', { id: 'common-parameters' }, COMMON_PARAMETERS.map((p) => h('option', { value: p, key: p }))),
      h('datalist', { id: 'model-names' }, modelNames.map((p) => h('option', { value: p, key: p }))),
      h('datalist', { id: 'firmware-versions' }, versions.map((p) => h('option', { value: p, key: p }))),
      h(
        'div',
        { class: 'form-actions' },
        h(Button, { type: 'submit', kind: 'primary' }, 'Search'),
        h(Button, { onClick: reset }, 'Clear filters'),
        h(SelectField, { id: 'f-limit', label: 'Per page', inline: true, value: draft.limit, onChange: (v) => navigate(toUrl({ ...applied, limit: v })), options: ['25', '50', '100', '200'].map((v) => ({ value: v, label: v })) }),
      ),
    ),
    h(
      Section,
      { id: 'device-list', title: 'Results' },
      selected.size > 0
        ? h(
            'div',
            { class: 'bulkbar', role: 'toolbar', 'aria-label': 'Actions on the selected devices' },
            h('strong', null, `${selected.size} selected`),
            h(Button, { onClick: () => void reboot(), busy: bulk.busy }, 'Reboot'),
            h(Button, { onClick: () => setPanel(panel === 'push' ? 'none' : 'push'), 'aria-expanded': panel === 'push' }, 'Push file…'),
            h(Button, { onClick: () => setPanel(panel === 'tag' ? 'none' : 'tag'), 'aria-expanded': panel === 'tag' }, 'Add tag…'),
            h(Button, { onClick: () => setPanel(panel === 'untag' ? 'none' : 'untag'), 'aria-expanded': panel === 'untag' }, 'Remove tag…'),
            h(Button, { kind: 'danger', onClick: () => void remove(), busy: bulk.busy }, 'Delete'),
            h(Button, { kind: 'link', onClick: () => setSelected(new Set()) }, 'Clear selection'),
          )
        : h('p', { class: 'hint' }, 'Select devices to reboot them, push a file, tag or delete them.'),
      panel === 'push' ? h(PushFileForm, { onPush: (c) => void push(c), busy: bulk.busy, onCancel: () => setPanel('none') }) : null,
      panel === 'tag' || panel === 'untag'
        ? h(
            'form',
            { class: 'inline-form', onSubmit: (e: Event) => void tag(e, panel === 'untag'), 'aria-label': panel === 'tag' ? 'Add a tag' : 'Remove a tag' },
            h(TextField, { id: 'bulk-tag', label: 'Tag', value: tagText, onInput: setTagText, required: true, hint: 'No spaces or commas.' }),
            h('div', { class: 'form-actions' }, h(Button, { type: 'submit', kind: 'primary', busy: bulk.busy }, panel === 'tag' ? 'Add tag' : 'Remove tag'), h(Button, { onClick: () => setPanel('none') }, 'Cancel')),
          )
        : null,
      h(OutcomeMessage, { outcome: bulk.outcome }),
      h(LoadError, { error: page.error }),
      !page.data && page.loading ? h(Loading, null) : null,
      page.data && devices.length === 0 ? h(Empty, null, 'No device matches these filters.') : null,
      devices.length > 0
        ? h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              { class: 'table devices', 'aria-busy': page.loading ? 'true' : 'false' },
              h(
                'thead',
                null,
                h(
                  'tr',
                  null,
                  h(
                    'th',
                    { scope: 'col', class: 'check' },
                    h('input', {
                      type: 'checkbox',
                      'aria-label': 'Select every device on this page',
                      checked: allSelected,
                      onChange: () => setSelected(allSelected ? new Set() : new Set(devices.map((d) => d.id))),
                    }),
                  ),
                  SORTABLE.map((c) =>
                    h(
                      'th',
                      { scope: 'col', key: c.field, 'aria-sort': applied.sort === c.field ? (applied.order === 'asc' ? 'ascending' : 'descending') : undefined },
                      h('button', { type: 'button', class: 'sort', onClick: () => sortBy(c.field) }, c.label, applied.sort === c.field ? h('span', { 'aria-hidden': 'true' }, applied.order === 'asc' ? ' ▲' : ' ▼') : null),
                    ),
                  ),
                  h('th', { scope: 'col' }, 'Address'),
                  h('th', { scope: 'col' }, 'Tags'),
                ),
              ),
              h(
                'tbody',
                null,
                devices.map((d) => {
                  const status = contactStatus(d.lastContact, app.rule);
                  return h(
                    'tr',
                    { key: d.id, class: selected.has(d.id) ? 'selected' : undefined },
                    h('td', { class: 'check' }, h('input', { type: 'checkbox', 'aria-label': `Select ${d.id}`, checked: selected.has(d.id), onChange: () => toggle(d.id) })),
                    h('td', null, h('a', { href: `/devices/${encodeURIComponent(d.id)}` }, d.id)),
                    h('td', null, d.productClass),
                    h('td', null, d.softwareVersion ?? '—'),
                    h('td', null, h(Badge, { kind: status }, status), ' ', h('span', { title: dateTime(d.lastContact) }, ago(d.lastContact))),
                    h('td', null, d.sourceAddress ?? '—'),
                    h('td', null, d.tags.map((t) => h('span', { class: 'tag', key: t }, t))),
                  );
                }),
              ),
            ),
          )
        : null,
      page.data
        ? h(Pager, {
            label: 'Device pages',
            summary: devices.length ? `${num(start)}–${num(start + devices.length - 1)} of ${num(total)}` : '',
            hasPrev: cursors.length > 1,
            hasNext: page.data.nextCursor !== null,
            onPrev: () => {
              setCursors((c) => c.slice(0, -1));
              setSelected(new Set());
            },
            onNext: () => {
              setCursors((c) => [...c, page.data!.nextCursor]);
              setSelected(new Set());
            },
          })
        : null,
    ),
  );
}
