/** Users (admin): create with a role and password, change role, disable, reset password, delete. */
import { h, type ComponentChild } from 'preact';
import { useState } from 'preact/hooks';
import { del, get, patch, post, seg } from '../api.ts';
import { useApp } from '../context.ts';
import { ago } from '../format.ts';
import type { User } from '../types.ts';
import { Badge, Button, LoadError, Loading, OutcomeMessage, Section, SelectField, TextField, useAction, useConfirm, useLoad, useTitle } from '../ui.ts';

const ROLES = [
  { value: 'viewer', label: 'viewer — reads everything, changes nothing' },
  { value: 'operator', label: 'operator — also runs tasks, tags, rollouts' },
  { value: 'admin', label: 'admin — also users, tokens, credentials' },
];

function UserRow(props: { user: User; self: boolean; onChanged: () => void; confirm: ReturnType<typeof useConfirm>['confirm'] }): ComponentChild {
  const u = props.user;
  const action = useAction();
  const [resetting, setResetting] = useState(false);
  const [password, setPassword] = useState('');
  const setRole = (role: string) =>
    void action.run(async () => {
      await patch(`/api/users/${seg(u.id)}`, { role });
      props.onChanged();
      return `${u.username} is now ${role}; their open sessions were ended.`;
    });
  const toggleDisabled = () =>
    void action.run(async () => {
      await patch(`/api/users/${seg(u.id)}`, { disabled: !u.disabled });
      props.onChanged();
      return u.disabled ? `${u.username} may log in again.` : `${u.username} is disabled and logged out.`;
    });
  const resetPassword = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      await patch(`/api/users/${seg(u.id)}`, { password });
      setResetting(false);
      setPassword('');
      return `The password of ${u.username} was changed; their open sessions were ended.`;
    });
  };
  const remove = async () => {
    if (!(await props.confirm({ title: 'Delete user', text: `Delete the user ${u.username}? Their sessions end now.`, confirmLabel: 'Delete', danger: true }))) return;
    await action.run(async () => {
      await del(`/api/users/${seg(u.id)}`);
      props.onChanged();
      return `${u.username} was deleted.`;
    });
  };
  return h(
    'tr',
    null,
    h('th', { scope: 'row' }, u.username, props.self ? h('span', { class: 'muted' }, ' (you)') : null),
    h('td', null, h(SelectField, { id: `role-${u.id}`, label: `Role of ${u.username}`, value: u.role, onChange: setRole, options: ROLES.map((r) => ({ value: r.value, label: r.value })), inline: true })),
    h('td', null, u.disabled ? h(Badge, { kind: 'offline' }, 'disabled') : h(Badge, { kind: 'online' }, 'active')),
    h('td', null, ago(u.lastLoginAt)),
    h(
      'td',
      null,
      h(
        'div',
        { class: 'row-actions' },
        h(Button, { small: true, onClick: toggleDisabled, busy: action.busy }, u.disabled ? 'Enable' : 'Disable'),
        h(Button, { small: true, onClick: () => setResetting(!resetting), 'aria-expanded': resetting }, 'Set password…'),
        h(Button, { small: true, kind: 'danger', onClick: () => void remove(), busy: action.busy }, 'Delete'),
      ),
      resetting
        ? h(
            'form',
            { class: 'inline-form row', onSubmit: resetPassword, 'aria-label': `New password for ${u.username}` },
            h(TextField, { id: `pw-${u.id}`, label: `New password for ${u.username}`, type: 'password', value: password, onInput: setPassword, required: true, autoComplete: 'new-password' }),
            h(Button, { type: 'submit', kind: 'primary', busy: action.busy, small: true }, 'Save'),
          )
        : null,
      h(OutcomeMessage, { outcome: action.outcome }),
    ),
  );
}

export function UsersPage(): ComponentChild {
  useTitle('Users');
  const app = useApp();
  const users = useLoad((signal) => get<{ users: User[] }>('/api/users', undefined, signal), []);
  const [username, setUsername] = useState('');
  const [role, setRole] = useState('operator');
  const [password, setPassword] = useState('');
  const create = useAction();
  const { dialog, confirm } = useConfirm();
  const submit = (e: Event) => {
    e.preventDefault();
    void create.run(async () => {
      const u = await post<User>('/api/users', { username: username.trim().toLowerCase(), role, password });
      setUsername('');
      setPassword('');
      users.reload();
      return `User ${u.username} (${u.role}) was created.`;
    });
  };
  return h(
    'div',
    { class: 'page' },
    dialog,
    h('div', { class: 'page-head' }, h('h1', null, 'Users'), h('p', { class: 'muted' }, 'People who log in to this console. Each login gets a short-lived API token with the user\'s role.')),
    h(
      Section,
      { id: 'user-new', title: 'New user' },
      h(
        'form',
        { class: 'inline-form', onSubmit: submit, 'aria-label': 'New user' },
        h(TextField, { id: 'user-name', label: 'Username', value: username, onInput: setUsername, required: true, hint: 'Lower-case letters, digits, . _ @ -' }),
        h(SelectField, { id: 'user-role', label: 'Role', value: role, onChange: setRole, options: ROLES }),
        h(TextField, { id: 'user-password', label: 'Password', type: 'password', value: password, onInput: setPassword, required: true, autoComplete: 'new-password', hint: 'At least 8 characters.' }),
        h('div', { class: 'form-actions' }, h(Button, { type: 'submit', kind: 'primary', busy: create.busy }, 'Create user')),
        h(OutcomeMessage, { outcome: create.outcome }),
      ),
    ),
    h(
      Section,
      { id: 'user-list', title: 'All users' },
      h(LoadError, { error: users.error }),
      !users.data && users.loading ? h(Loading, null) : null,
      users.data
        ? h(
            'table',
            { class: 'table' },
            h('thead', null, h('tr', null, ['User', 'Role', 'State', 'Last login', 'Actions'].map((c) => h('th', { scope: 'col', key: c }, c)))),
            h('tbody', null, users.data.users.map((u) => h(UserRow, { key: u.id, user: u, self: u.username === app.session.username, onChanged: users.reload, confirm }))),
          )
        : null,
    ),
  );
}
