/** Placeholder until the provisioning API routes exist. */
import { h, type ComponentChild } from 'preact';
import { Empty, useTitle } from '../ui.ts';

export function BootstrapPage(): ComponentChild {
  useTitle('Bootstrap');
  return h('div', { class: 'page' }, h('div', { class: 'page-head' }, h('h1', null, 'Bootstrap')), h(Empty, null, 'Not available on this server.'));
}
