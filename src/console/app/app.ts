/**
 * The console shell: login gate, navigation, and the page for the current path.
 */
import { h, render, type ComponentChild } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { del, loadSession, roleAtLeast, saveSession, setSessionGoneHandler, type Role, type SessionInfo } from './api.ts';
import { AppContext, DEFAULT_RULE } from './context.ts';
import type { OnlineRule } from './format.ts';
import { match, navigate, onLinkClick, useLocation } from './router.ts';
import { LoginPage } from './pages/login.ts';
import { OverviewPage } from './pages/overview.ts';
import { DevicesPage } from './pages/devices.ts';
import { DevicePage } from './pages/device.ts';
import { UsersPage } from './pages/users.ts';
import { TokensPage } from './pages/tokens.ts';
import { AccountPage } from './pages/account.ts';
import { PresetsPage } from './pages/presets.ts';
import { FilesPage } from './pages/files.ts';
import { RolloutsPage } from './pages/rollouts.ts';
import { WebhooksPage } from './pages/webhooks.ts';
import { BootstrapPage } from './pages/bootstrap.ts';
import { Button } from './ui.ts';

interface RouteDef {
  pattern: string;
  render: (params: Record<string, string>) => ComponentChild;
}

const ROUTES: RouteDef[] = [
  { pattern: '/', render: () => h(OverviewPage, {}) },
  { pattern: '/devices', render: () => h(DevicesPage, {}) },
  { pattern: '/devices/:id', render: (p) => h(DevicePage, { id: p.id, key: p.id }) },
  { pattern: '/presets', render: () => h(PresetsPage, {}) },
  { pattern: '/files', render: () => h(FilesPage, {}) },
  { pattern: '/rollouts', render: () => h(RolloutsPage, {}) },
  { pattern: '/webhooks', render: () => h(WebhooksPage, {}) },
  { pattern: '/bootstrap', render: () => h(BootstrapPage, {}) },
  { pattern: '/users', render: () => h(UsersPage, {}) },
  { pattern: '/tokens', render: () => h(TokensPage, {}) },
  { pattern: '/account', render: () => h(AccountPage, {}) },
];

interface NavItem {
  href: string;
  label: string;
  /** Lowest role that sees the entry (pages still check on the server). */
  role: Role;
}

const NAV: NavItem[] = [
  { href: '/', label: 'Overview', role: 'viewer' },
  { href: '/devices', label: 'Devices', role: 'viewer' },
  { href: '/presets', label: 'Presets', role: 'viewer' },
  { href: '/files', label: 'Files', role: 'viewer' },
  { href: '/rollouts', label: 'Rollouts', role: 'viewer' },
  { href: '/webhooks', label: 'Webhooks', role: 'viewer' },
  { href: '/bootstrap', label: 'Bootstrap records', role: 'viewer' },
  { href: '/users', label: 'Users', role: 'admin' },
  { href: '/tokens', label: 'API tokens', role: 'admin' },
];

function isActive(href: string, path: string): boolean {
  return href === '/' ? path === '/' : path === href || path.startsWith(`${href}/`);
}

function NotFound(props: { path: string }): ComponentChild {
  return h('div', { class: 'page' }, h('h1', { tabIndex: -1 }, 'Page not found'), h('p', null, `There is no console page at ${props.path}. `, h('a', { href: '/' }, 'Go to the overview.')));
}

function Shell(props: { session: SessionInfo; onLogout: () => void }): ComponentChild {
  const location = useLocation();
  const mainRef = useRef<HTMLElement>(null);
  const [rule, setRule] = useState<OnlineRule>(DEFAULT_RULE);
  const state = useMemo(() => ({ session: props.session, rule, setRule }), [props.session, rule]);

  let page: ComponentChild = null;
  for (const r of ROUTES) {
    const params = match(r.pattern, location.path);
    if (params) {
      page = r.render(params);
      break;
    }
  }
  // Move focus to the new page's heading so keyboard and screen reader users start there.
  const firstRender = useRef(true);
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    const heading = mainRef.current?.querySelector('h1');
    if (heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus();
    }
  }, [location.path]);

  return h(
    AppContext.Provider,
    { value: state },
    h('a', { class: 'skip-link', href: '#main' }, 'Skip to content'),
    h(
      'header',
      { class: 'topbar' },
      h('a', { class: 'brand', href: '/' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '☎'), ' Switchboard'),
      h(
        'div',
        { class: 'user-menu' },
        h('span', null, 'Signed in as ', h('a', { href: '/account' }, props.session.username), ' ', h('span', { class: `badge badge-role` }, props.session.role)),
        h(Button, { small: true, onClick: props.onLogout }, 'Log out'),
      ),
    ),
    h(
      'div',
      { class: 'layout' },
      h(
        'nav',
        { class: 'sidenav', 'aria-label': 'Main' },
        h(
          'ul',
          null,
          NAV.filter((n) => roleAtLeast(props.session.role, n.role)).map((n) =>
            h('li', { key: n.href }, h('a', { href: n.href, 'aria-current': isActive(n.href, location.path) ? 'page' : undefined }, n.label)),
          ),
        ),
      ),
      h(
        'main',
        { id: 'main', ref: mainRef, tabIndex: -1 },
        props.session.role === 'viewer' ? h('p', { class: 'role-note' }, 'You are signed in as a viewer: you can look at everything, and the server refuses changes.') : null,
        page ?? h(NotFound, { path: location.path }),
      ),
    ),
  );
}

function App(): ComponentChild {
  const [session, setSession] = useState<SessionInfo | null>(loadSession);
  const [loginMessage, setLoginMessage] = useState<string | null>(null);

  useEffect(() => {
    setSessionGoneHandler((message) => {
      saveSession(null);
      setSession(null);
      setLoginMessage(message);
    });
  }, []);

  const logout = async () => {
    try {
      await del('/api/session');
    } catch {
      // the session may have ended already; the token is dropped either way
    }
    saveSession(null);
    setSession(null);
    setLoginMessage('You have logged out.');
    // The next login starts at the overview (after an expiry, on the contrary, the page is kept).
    navigate('/', { replace: true });
  };

  if (!session) {
    return h(LoginPage, {
      message: loginMessage,
      onLogin: (s: SessionInfo) => {
        saveSession(s);
        setSession(s);
        setLoginMessage(null);
        const next = new URLSearchParams(window.location.search).get('next');
        if (window.location.pathname === '/login') navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true });
      },
    });
  }
  return h(Shell, { session, onLogout: () => void logout() });
}

/** Mounts the console into `root`. */
export function mount(root: HTMLElement): void {
  document.addEventListener('click', onLinkClick);
  render(h(App, {}), root);
}
