/** The logged-in user's own account: role, session expiry, password change. */
import { h, type ComponentChild } from 'preact';
import { useState } from 'preact/hooks';
import { get, put } from '../api.ts';
import { useApp } from '../context.ts';
import { dateTime } from '../format.ts';
import { Button, LoadError, OutcomeMessage, Section, TextField, useAction, useLoad, useTitle } from '../ui.ts';

export function AccountPage(): ComponentChild {
  useTitle('Your account');
  const app = useApp();
  const me = useLoad((signal) => get<{ role: string; expiresAt: string | null; tokenName: string }>('/api/session', undefined, signal), []);
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const action = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      await put('/api/session/password', { currentPassword: current, newPassword: next });
      setCurrent('');
      setNext('');
      return 'Your password was changed; your other sessions were ended.';
    });
  };
  return h(
    'div',
    { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', null, 'Your account')),
    h(
      Section,
      { id: 'account-session', title: 'Session' },
      h(LoadError, { error: me.error }),
      h(
        'dl',
        { class: 'facts' },
        h('dt', null, 'User'),
        h('dd', null, app.session.username),
        h('dt', null, 'Role'),
        h('dd', null, app.session.role),
        h('dt', null, 'Session expires'),
        h('dd', null, me.data ? `${dateTime(me.data.expiresAt)} unless you keep using it` : '…'),
      ),
    ),
    h(
      Section,
      { id: 'account-password', title: 'Change password' },
      h(
        'form',
        { class: 'inline-form', onSubmit: submit, 'aria-label': 'Change password' },
        h(TextField, { id: 'pw-current', label: 'Current password', type: 'password', value: current, onInput: setCurrent, required: true, autoComplete: 'current-password' }),
        h(TextField, { id: 'pw-new', label: 'New password', type: 'password', value: next, onInput: setNext, required: true, autoComplete: 'new-password', hint: 'At least 8 characters.' }),
        h('div', { class: 'form-actions' }, h(Button, { type: 'submit', kind: 'primary', busy: action.busy }, 'Change password')),
        h(OutcomeMessage, { outcome: action.outcome }),
      ),
    ),
  );
}
