/** Webhooks (admin): create, enable/disable, test, see deliveries, delete. */
import { h } from 'preact';
import { useState } from 'preact/hooks';
import { del, get, post, seg } from '../api.ts';
import { dateTime } from '../format.ts';
import { NotAvailable, useOptional } from '../provisioning.ts';
import { Badge, Button, CheckboxField, LoadError, Loading, OutcomeMessage, Section, TextField, useAction, useConfirm, useLoad, useTitle, type ComponentChild } from '../ui.ts';

const EVENTS = ['device.registered', 'device.booted', 'device.bootstrapped', 'parameter.changed', 'task.done', 'task.failed', 'transfer.complete', 'fault', 'provisioning.applied', 'rollout.finished'];

interface Webhook {
  id: string;
  name: string;
  url: string;
  events: string[];
  enabled: boolean;
  maxAttempts?: number;
  secretSet: boolean;
  updatedAt: string;
}

interface Delivery {
  id: string;
  event: string;
  status: string;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
}

function Deliveries(props: { id: string }): ComponentChild {
  const list = useLoad((signal) => get<{ deliveries: Delivery[] }>(`/api/webhooks/${seg(props.id)}/deliveries`, { limit: 20 }, signal), [props.id]);
  if (list.error) return h(LoadError, { error: list.error });
  if (!list.data) return h(Loading, null);
  if (list.data.deliveries.length === 0) return h('p', { class: 'empty' }, 'No deliveries yet.');
  return h(
    'table',
    { class: 'table' },
    h('caption', { class: 'visually-hidden' }, 'Recent deliveries'),
    h('thead', null, h('tr', null, ['When', 'Event', 'Status', 'Attempts', 'Last answer'].map((c) => h('th', { scope: 'col', key: c }, c)))),
    h('tbody', null, list.data.deliveries.map((d) => h('tr', { key: d.id }, h('td', null, dateTime(d.createdAt)), h('td', null, d.event), h('td', null, h(Badge, { kind: d.status === 'delivered' ? 'done' : d.status }, d.status)), h('td', { class: 'num' }, String(d.attempts)), h('td', null, d.lastStatusCode !== null ? `HTTP ${d.lastStatusCode}` : (d.lastError ?? '—'))))),
  );
}

function WebhookRow(props: { hook: Webhook; onChanged: () => void }): ComponentChild {
  const w = props.hook;
  const action = useAction();
  const [open, setOpen] = useState(false);
  const { dialog, confirm } = useConfirm();
  const test = () =>
    void action.run(async () => {
      await post(`/api/webhooks/${seg(w.id)}/test`);
      setOpen(true);
      return `A test delivery ("ping") to ${w.url} was queued.`;
    });
  const remove = async () => {
    if (!(await confirm({ title: 'Delete webhook', text: `Delete the webhook "${w.name}"?`, confirmLabel: 'Delete', danger: true }))) return;
    await action.run(async () => {
      await del(`/api/webhooks/${seg(w.id)}`);
      props.onChanged();
      return `Webhook "${w.name}" was deleted.`;
    });
  };
  return h(
    'li',
    null,
    dialog,
    h('div', { class: 'rollout-head' }, h('strong', null, w.name), h(Badge, { kind: w.enabled ? 'online' : 'never' }, w.enabled ? 'enabled' : 'disabled'), h('code', { class: 'small' }, w.url)),
    h('div', { class: 'muted small' }, `Events: ${w.events.join(', ')}`),
    h(
      'div',
      { class: 'row-actions' },
      h(Button, { small: true, onClick: test, busy: action.busy }, 'Send test'),
      h(Button, { small: true, onClick: () => setOpen(!open), 'aria-expanded': open }, 'Deliveries'),
      h(Button, { small: true, kind: 'danger', onClick: () => void remove(), busy: action.busy }, 'Delete'),
    ),
    h(OutcomeMessage, { outcome: action.outcome }),
    open ? h(Deliveries, { id: w.id }) : null,
  );
}

export function WebhooksPage(): ComponentChild {
  useTitle('Webhooks');
  const hooks = useOptional<{ webhooks: Webhook[] }>('/api/webhooks');
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [secret, setSecret] = useState('');
  const [events, setEvents] = useState<Set<string>>(new Set(['device.booted', 'fault']));
  const create = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    void create.run(async () => {
      const hook = await post<Webhook>('/api/webhooks', { name: name.trim(), url: url.trim(), secret, events: [...events], enabled: true });
      hooks.reload();
      setName('');
      setUrl('');
      setSecret('');
      return `Webhook "${hook.name}" was created.`;
    });
  };
  const available = hooks.data?.available;
  return h(
    'div',
    { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', null, 'Webhooks'), h('p', { class: 'muted' }, 'Signed JSON POSTs to your systems when things happen.')),
    h(LoadError, { error: hooks.error }),
    !hooks.data && hooks.loading ? h(Loading, null) : null,
    available === false ? h(NotAvailable, { what: 'Webhooks' }) : null,
    available
      ? h(
          Section,
          { id: 'webhook-new', title: 'New webhook' },
          h(
            'form',
            { class: 'inline-form', onSubmit: submit, 'aria-label': 'New webhook' },
            h(TextField, { id: 'wh-name', label: 'Name', value: name, onInput: setName, required: true }),
            h(TextField, { id: 'wh-url', label: 'URL', type: 'url', value: url, onInput: setUrl, required: true, placeholder: 'https://example.net/hooks/switchboard' }),
            h(TextField, { id: 'wh-secret', label: 'Signing secret', type: 'password', value: secret, onInput: setSecret, required: true, autoComplete: 'new-password', hint: 'At least 16 characters; the receiver checks the x-switchboard-signature header with it.' }),
            h(
              'fieldset',
              { class: 'checks' },
              h('legend', null, 'Events'),
              EVENTS.map((ev) =>
                h(CheckboxField, {
                  key: ev,
                  id: `wh-ev-${ev.replace('.', '-')}`,
                  label: ev,
                  checked: events.has(ev),
                  onChange: (on) =>
                    setEvents((s) => {
                      const next = new Set(s);
                      if (on) next.add(ev);
                      else next.delete(ev);
                      return next;
                    }),
                }),
              ),
            ),
            h('div', { class: 'form-actions' }, h(Button, { type: 'submit', kind: 'primary', busy: create.busy }, 'Create webhook')),
            h(OutcomeMessage, { outcome: create.outcome }),
          ),
        )
      : null,
    available
      ? h(Section, { id: 'webhook-list', title: 'Webhooks' }, (hooks.data?.value?.webhooks ?? []).length === 0 ? h('p', { class: 'empty' }, 'No webhooks yet.') : h('ul', { class: 'list' }, hooks.data!.value!.webhooks.map((w) => h(WebhookRow, { key: w.id, hook: w, onChanged: hooks.reload }))))
      : null,
  );
}

