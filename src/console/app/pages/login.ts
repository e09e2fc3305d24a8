/** The login page: username and password, exchanged for a short-lived bearer token. */
import { h, type ComponentChild } from 'preact';
import { useState } from 'preact/hooks';
import { post, type Role, type SessionInfo } from '../api.ts';
import { Button, OutcomeMessage, TextField, useAction, useTitle } from '../ui.ts';

interface LoginAnswer {
  token: string;
  expiresAt: string;
  user: { username: string; role: Role };
}

export function LoginPage(props: { message: string | null; onLogin: (s: SessionInfo) => void }): ComponentChild {
  useTitle('Log in');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const action = useAction();

  const submit = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      const answer = await post<LoginAnswer>('/api/session', { username: username.trim(), password });
      props.onLogin({ token: answer.token, username: answer.user.username, role: answer.user.role, expiresAt: answer.expiresAt });
    });
  };

  return h(
    'main',
    { class: 'login', id: 'main' },
    h(
      'div',
      { class: 'login-card' },
      h('h1', null, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '☎'), ' Switchboard'),
      h('p', { class: 'muted' }, 'Log in to manage your devices.'),
      props.message ? h('p', { class: 'outcome outcome-info', role: 'status' }, props.message) : null,
      h(
        'form',
        { onSubmit: submit, 'aria-label': 'Log in' },
        h(TextField, { id: 'login-username', label: 'Username', value: username, onInput: setUsername, required: true, autoComplete: 'username' }),
        h(TextField, { id: 'login-password', label: 'Password', type: 'password', value: password, onInput: setPassword, required: true, autoComplete: 'current-password' }),
        h(Button, { type: 'submit', kind: 'primary', busy: action.busy }, action.busy ? 'Logging in…' : 'Log in'),
        h(OutcomeMessage, { outcome: action.outcome }),
      ),
    ),
  );
}
