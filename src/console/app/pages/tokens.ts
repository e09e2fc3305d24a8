/** API tokens (admin): create one (its secret is shown once), list, revoke. */
import { h, type ComponentChild } from 'preact';
import { useState } from 'preact/hooks';
import { del, get, post, seg } from '../api.ts';
import { ago, dateTime } from '../format.ts';
import type { ApiToken } from '../types.ts';
import { Badge, Button, CheckboxField, LoadError, Loading, OutcomeMessage, Section, SelectField, TextField, useAction, useConfirm, useLoad, useTitle } from '../ui.ts';

/** Tokens issued by console logins are named `console.<user>.<hex>`. */
const CONSOLE_TOKEN = /^console\./;

export function TokensPage(): ComponentChild {
  useTitle('API tokens');
  const tokens = useLoad((signal) => get<{ tokens: ApiToken[] }>('/api/tokens', undefined, signal), []);
  const [name, setName] = useState('');
  const [role, setRole] = useState('viewer');
  const [secret, setSecret] = useState<{ name: string; secret: string } | null>(null);
  const [showConsole, setShowConsole] = useState(false);
  const [showRevoked, setShowRevoked] = useState(false);
  const create = useAction();
  const revoke = useAction();
  const { dialog, confirm } = useConfirm();

  const submit = (e: Event) => {
    e.preventDefault();
    void create.run(async () => {
      const answer = await post<{ token: ApiToken; secret: string }>('/api/tokens', { name: name.trim(), role });
      setSecret({ name: answer.token.name, secret: answer.secret });
      setName('');
      tokens.reload();
      return `Token ${answer.token.name} (${answer.token.role}) was created. Copy its secret now: it is not shown again.`;
    });
  };
  const doRevoke = async (t: ApiToken) => {
    if (!(await confirm({ title: 'Revoke token', text: `Revoke ${t.name}? Programs using it are refused from now on.`, confirmLabel: 'Revoke', danger: true }))) return;
    await revoke.run(async () => {
      await del(`/api/tokens/${seg(t.id)}`);
      tokens.reload();
      return `Token ${t.name} was revoked.`;
    });
  };
  const list = (tokens.data?.tokens ?? []).filter((t) => (showConsole || !CONSOLE_TOKEN.test(t.name)) && (showRevoked || t.revokedAt === null));

  return h(
    'div',
    { class: 'page' },
    dialog,
    h('div', { class: 'page-head' }, h('h1', null, 'API tokens'), h('p', { class: 'muted' }, 'Bearer tokens for programs using the REST API. Only a hash is stored.')),
    h(
      Section,
      { id: 'token-new', title: 'New token' },
      h(
        'form',
        { class: 'inline-form', onSubmit: submit, 'aria-label': 'New token' },
        h(TextField, { id: 'token-name', label: 'Name', value: name, onInput: setName, required: true, hint: 'Unique; letters, digits, . _ @ -. It names the actor in the audit log.' }),
        h(SelectField, { id: 'token-role', label: 'Role', value: role, onChange: setRole, options: ['viewer', 'operator', 'admin'].map((r) => ({ value: r, label: r })) }),
        h('div', { class: 'form-actions' }, h(Button, { type: 'submit', kind: 'primary', busy: create.busy }, 'Create token')),
        h(OutcomeMessage, { outcome: create.outcome }),
        secret
          ? h(
              'div',
              { class: 'secret-box' },
              h('label', { for: 'token-secret' }, `Secret of ${secret.name}`),
              h('input', { id: 'token-secret', readOnly: true, value: secret.secret, class: 'code', onFocus: (e: Event) => (e.currentTarget as HTMLInputElement).select() }),
              h(Button, { small: true, onClick: () => void navigator.clipboard?.writeText(secret.secret) }, 'Copy'),
            )
          : null,
      ),
    ),
    h(
      Section,
      { id: 'token-list', title: 'Tokens' },
      h('div', { class: 'row' }, h(CheckboxField, { id: 'show-console', label: 'Show console login tokens', checked: showConsole, onChange: setShowConsole }), h(CheckboxField, { id: 'show-revoked', label: 'Show revoked tokens', checked: showRevoked, onChange: setShowRevoked })),
      h(OutcomeMessage, { outcome: revoke.outcome }),
      h(LoadError, { error: tokens.error }),
      !tokens.data && tokens.loading ? h(Loading, null) : null,
      tokens.data
        ? h(
            'table',
            { class: 'table' },
            h('thead', null, h('tr', null, ['Name', 'Role', 'Created', 'Last used', 'State', 'Actions'].map((c) => h('th', { scope: 'col', key: c }, c)))),
            h(
              'tbody',
              null,
              list.map((t) =>
                h(
                  'tr',
                  { key: t.id },
                  h('th', { scope: 'row' }, t.name),
                  h('td', null, t.role),
                  h('td', { class: 'nowrap' }, dateTime(t.createdAt)),
                  h('td', null, ago(t.lastUsedAt)),
                  h('td', null, t.revokedAt ? h(Badge, { kind: 'offline' }, 'revoked') : h(Badge, { kind: 'online' }, 'active')),
                  h('td', null, t.revokedAt ? null : h(Button, { small: true, kind: 'danger', onClick: () => void doRevoke(t), 'aria-label': `Revoke ${t.name}` }, 'Revoke')),
                ),
              ),
            ),
          )
        : null,
    ),
  );
}
