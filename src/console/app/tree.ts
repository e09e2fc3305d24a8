/**
 * The parameter tree of one device: built from the flat list the API returns, rendered lazily
 * (only expanded objects render their children), with values, types and writability; writable
 * values can be edited (setParameterValues, then read back from the device) and objects refreshed
 * from the device (refresh task).
 */
import { h, type ComponentChild } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import { dateTime } from './format.ts';
import { describeTaskAnswer, queueTask } from './tasks.ts';
import type { Parameter } from './types.ts';
import { Badge, Button, OutcomeMessage, SelectField, TextField, useAction, useId, type Outcome } from './ui.ts';

/** Most rows a search shows (the tree itself is unbounded but lazy). */
const MAX_SEARCH_ROWS = 200;
/** How long an edit waits for the device (it was asked to connect now). */
const EDIT_WAIT_MS = 30_000;

interface TreeNode {
  /** Full path; objects end with '.'. */
  path: string;
  /** Last segment, for display. */
  label: string;
  param: Parameter | null;
  object: boolean;
}

export interface TreeIndex {
  children: Map<string, TreeNode[]>;
  byName: Map<string, Parameter>;
  roots: TreeNode[];
}

function parentOf(path: string): string {
  const trimmed = path.endsWith('.') ? path.slice(0, -1) : path;
  const i = trimmed.lastIndexOf('.');
  return i < 0 ? '' : trimmed.slice(0, i + 1);
}

function labelOf(path: string): string {
  const trimmed = path.endsWith('.') ? path.slice(0, -1) : path;
  return trimmed.slice(trimmed.lastIndexOf('.') + 1) + (path.endsWith('.') ? '.' : '');
}

/** Builds the parent → children index, inventing object nodes the list does not name. */
export function buildIndex(params: Parameter[]): TreeIndex {
  const nodes = new Map<string, TreeNode>();
  const byName = new Map<string, Parameter>();
  const ensure = (path: string, param: Parameter | null) => {
    const existing = nodes.get(path);
    if (existing) {
      if (param) existing.param = param;
      return;
    }
    nodes.set(path, { path, label: labelOf(path), param, object: path.endsWith('.') });
    const parent = parentOf(path);
    if (parent) ensure(parent, null);
  };
  for (const p of params) {
    byName.set(p.name, p);
    ensure(p.name, p);
  }
  const children = new Map<string, TreeNode[]>();
  for (const node of nodes.values()) {
    const parent = parentOf(node.path);
    let list = children.get(parent);
    if (!list) children.set(parent, (list = []));
    list.push(node);
  }
  const numeric = /^\d+\.?$/;
  for (const list of children.values()) {
    list.sort((a, b) => {
      // instance numbers sort as numbers (2 before 10)
      if (numeric.test(a.label) && numeric.test(b.label)) return parseInt(a.label, 10) - parseInt(b.label, 10);
      return a.label.localeCompare(b.label);
    });
  }
  return { children, byName, roots: children.get('') ?? [] };
}

export interface TreeProps {
  deviceId: string;
  params: Parameter[];
  /** Loads the (sub)tree again from the ACS. */
  reload: () => void;
}

function ValueEditor(props: { deviceId: string; param: Parameter; onDone: (o: Outcome) => void; onCancel: () => void }): ComponentChild {
  const p = props.param;
  const id = useId('edit');
  const isBool = p.type === 'boolean';
  const [value, setValue] = useState(isBool ? (p.value === '1' || p.value === 'true' ? 'true' : 'false') : (p.value ?? ''));
  const action = useAction();
  const numeric = p.type === 'int' || p.type === 'unsignedInt' || p.type === 'long' || p.type === 'unsignedLong';
  const save = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      const typed = isBool ? value === 'true' : numeric && /^-?\d+$/.test(value) ? Number(value) : value;
      const set = await queueTask(props.deviceId, { type: 'setParameterValues', parameters: [{ name: p.name, value: typed }] }, EDIT_WAIT_MS);
      if (set.task.status !== 'done') {
        const outcome = describeTaskAnswer(set);
        if (outcome.kind !== 'error') props.onDone(outcome);
        return outcome;
      }
      // Read the value back from the device, so the page shows what the device reports.
      const read = await queueTask(props.deviceId, { type: 'getParameterValues', names: [p.name] }, EDIT_WAIT_MS);
      const reported = (read.task.result as { parameters?: { name: string; value: string }[] } | null)?.parameters?.find((x) => x.name === p.name)?.value;
      const outcome: Outcome =
        reported !== undefined
          ? { kind: 'success', text: `Saved. The device now reports ${p.name} = ${reported}.` }
          : { kind: 'success', text: `Saved on the device (${describeTaskAnswer(read).text})` };
      props.onDone(outcome);
      return outcome;
    });
  };
  return h(
    'form',
    { class: 'edit-form', onSubmit: save, 'aria-label': `Edit ${p.name}` },
    isBool
      ? h(SelectField, { id, label: `New value of ${labelOf(p.name)}`, value, onChange: setValue, options: [{ value: 'true', label: 'true' }, { value: 'false', label: 'false' }] })
      : h(TextField, { id, label: `New value of ${labelOf(p.name)}`, value, onInput: setValue, type: numeric ? 'number' : 'text', hint: p.type ? `Type ${p.type}` : undefined }),
    h('div', { class: 'form-actions' }, h(Button, { type: 'submit', kind: 'primary', busy: action.busy }, action.busy ? 'Saving…' : 'Save'), h(Button, { onClick: props.onCancel }, 'Cancel')),
    h(OutcomeMessage, { outcome: action.outcome }),
  );
}

function LeafRow(props: { deviceId: string; param: Parameter; fullName?: boolean; onChanged: () => void }): ComponentChild {
  const p = props.param;
  const [editing, setEditing] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  return h(
    'div',
    { class: 'param-row' },
    h(
      'div',
      { class: 'param-main' },
      h('span', { class: 'param-name', title: p.name }, props.fullName ? p.name : labelOf(p.name)),
      h('span', { class: 'param-value' }, p.value === null ? h('em', { class: 'muted' }, 'not read') : p.value === '' ? h('em', { class: 'muted' }, 'empty') : p.value),
      h('span', { class: 'param-type' }, p.type ?? ''),
      p.writable === true ? h(Badge, { kind: 'writable' }, 'writable') : p.writable === false ? h(Badge, { kind: 'readonly' }, 'read-only') : null,
      p.writable ? h(Button, { small: true, onClick: () => setEditing(!editing), 'aria-expanded': editing, 'aria-label': `Edit ${p.name}` }, 'Edit') : null,
    ),
    editing
      ? h(ValueEditor, {
          deviceId: props.deviceId,
          param: p,
          onDone: (o) => {
            setOutcome(o);
            setEditing(false);
            props.onChanged();
          },
          onCancel: () => setEditing(false),
        })
      : null,
    !editing && outcome ? h(OutcomeMessage, { outcome }) : null,
  );
}

function ObjectRow(props: { deviceId: string; node: TreeNode; index: TreeIndex; reload: () => void; depth: number }): ComponentChild {
  const [open, setOpen] = useState(props.depth === 0);
  const refresh = useAction();
  const childrenId = useId('children');
  const kids = props.index.children.get(props.node.path) ?? [];
  const doRefresh = () =>
    void refresh.run(async () => {
      const answer = await queueTask(props.deviceId, { type: 'refresh', path: props.node.path }, EDIT_WAIT_MS);
      props.reload();
      const o = describeTaskAnswer(answer, `Refreshed ${props.node.path} from the device.`);
      return o;
    });
  return h(
    'li',
    null,
    h(
      'div',
      { class: 'param-row param-object' },
      h(
        'button',
        { type: 'button', class: 'toggle', 'data-path': props.node.path, 'aria-expanded': open ? 'true' : 'false', 'aria-controls': childrenId, onClick: () => setOpen(!open) },
        h('span', { 'aria-hidden': 'true', class: 'chevron' }, open ? '▾' : '▸'),
        ' ',
        props.node.label,
        h('span', { class: 'visually-hidden' }, ` (${kids.length} ${kids.length === 1 ? 'item' : 'items'})`),
      ),
      h('span', { class: 'muted small' }, `${kids.length}`),
      h(Button, { small: true, kind: 'link', onClick: doRefresh, busy: refresh.busy, 'aria-label': `Refresh ${props.node.path} from the device` }, refresh.busy ? 'Refreshing…' : 'Refresh'),
    ),
    refresh.outcome ? h(OutcomeMessage, { outcome: refresh.outcome }) : null,
    open ? h(TreeLevel, { id: childrenId, deviceId: props.deviceId, nodes: kids, index: props.index, reload: props.reload, depth: props.depth + 1 }) : null,
  );
}

function TreeLevel(props: { id?: string; deviceId: string; nodes: TreeNode[]; index: TreeIndex; reload: () => void; depth: number }): ComponentChild {
  return h(
    'ul',
    { class: 'tree-level', id: props.id },
    props.nodes.map((node) =>
      node.object
        ? h(ObjectRow, { key: node.path, deviceId: props.deviceId, node, index: props.index, reload: props.reload, depth: props.depth })
        : h('li', { key: node.path }, node.param ? h(LeafRow, { deviceId: props.deviceId, param: node.param, onChanged: props.reload }) : null),
    ),
  );
}

export function ParameterTree(props: TreeProps): ComponentChild {
  const index = useMemo(() => buildIndex(props.params), [props.params]);
  const [search, setSearch] = useState('');
  const needle = search.trim().toLowerCase();
  const matches = useMemo(() => {
    if (!needle) return [];
    const found: Parameter[] = [];
    for (const p of props.params) {
      if (p.object) continue;
      if (p.name.toLowerCase().includes(needle) || (p.value ?? '').toLowerCase().includes(needle)) found.push(p);
      if (found.length > MAX_SEARCH_ROWS) break;
    }
    return found;
  }, [needle, props.params]);
  const newest = props.params.reduce((m, p) => (p.updatedAt > m ? p.updatedAt : m), '');
  return h(
    'div',
    { class: 'tree' },
    h(
      'div',
      { class: 'tree-tools' },
      h(TextField, { id: 'param-search', label: 'Find a parameter', value: search, onInput: setSearch, placeholder: 'name or value, e.g. SIP.ProxyServer' }),
      h('p', { class: 'muted small' }, `${props.params.length} parameters known; last update ${dateTime(newest || null)}.`),
    ),
    needle
      ? h(
          'div',
          { class: 'tree-search', role: 'region', 'aria-label': 'Matching parameters' },
          h('p', { class: 'muted small', role: 'status' }, matches.length > MAX_SEARCH_ROWS ? `More than ${MAX_SEARCH_ROWS} matches; showing the first ${MAX_SEARCH_ROWS}.` : `${matches.length} ${matches.length === 1 ? 'match' : 'matches'}.`),
          h('ul', { class: 'tree-level flat' }, matches.slice(0, MAX_SEARCH_ROWS).map((p) => h('li', { key: p.name }, h(LeafRow, { deviceId: props.deviceId, param: p, fullName: true, onChanged: props.reload })))),
        )
      : index.roots.length === 0
        ? h('p', { class: 'empty' }, 'The ACS knows no parameters of this device yet. Refresh them from the device.')
        : h(TreeLevel, { deviceId: props.deviceId, nodes: index.roots, index, reload: props.reload, depth: 0 }),
  );
}
