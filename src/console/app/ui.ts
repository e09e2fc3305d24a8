/**
 * Shared building blocks of the console pages: form fields with labels, buttons with busy state,
 * action outcomes announced to screen readers, confirmation dialogs, sections, pagers.
 *
 * Written with `h()` (no JSX: the project's TypeScript setup has no JSX option).
 */
import { h, Fragment, type ComponentChild, type ComponentChildren, type VNode } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { describeError } from './api.ts';

export { h, Fragment };
export type { ComponentChild, ComponentChildren, VNode };

let idCounter = 0;
/** A stable unique id for label/control pairs. */
export function useId(prefix: string): string {
  const ref = useRef<string | undefined>(undefined);
  ref.current ??= `${prefix}-${++idCounter}`;
  return ref.current;
}

// ---------------------------------------------------------------------------------------------
// Loading data and running actions
// ---------------------------------------------------------------------------------------------

export interface Loaded<T> {
  data: T | undefined;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/** Loads data when `deps` change; `reload()` loads again. Errors become sentences. */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: string | null; loading: boolean }>({ data: undefined, error: null, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const controller = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    load(controller.signal).then(
      (data) => {
        if (!controller.signal.aborted) setState({ data, error: null, loading: false });
      },
      (err: unknown) => {
        if (!controller.signal.aborted) setState((s) => ({ data: s.data, error: describeError(err), loading: false }));
      },
    );
    return () => controller.abort();
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

export interface Outcome {
  kind: 'success' | 'error' | 'info';
  text: string;
}

export interface Action {
  busy: boolean;
  outcome: Outcome | null;
  /** Runs `work`; its resolved string (or `success`) becomes the outcome, a failure the API's sentence. */
  run: (work: () => Promise<string | Outcome | void>, success?: string) => Promise<boolean>;
  clear: () => void;
}

export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const run = useCallback(async (work: () => Promise<string | Outcome | void>, success?: string) => {
    setBusy(true);
    setOutcome(null);
    try {
      const result = await work();
      if (typeof result === 'string') setOutcome({ kind: 'success', text: result });
      else if (result) setOutcome(result);
      else if (success) setOutcome({ kind: 'success', text: success });
      return true;
    } catch (err) {
      setOutcome({ kind: 'error', text: describeError(err) });
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, outcome, run, clear: () => setOutcome(null) };
}

/** Shows an action's outcome: errors as alerts, the rest as polite status messages. */
export function OutcomeMessage(props: { outcome: Outcome | null; id?: string }): ComponentChild {
  const o = props.outcome;
  // The live region stays in the page so that screen readers announce changes to it.
  return h(
    'div',
    { id: props.id, class: `outcome ${o ? `outcome-${o.kind}` : 'outcome-empty'}`, role: o?.kind === 'error' ? 'alert' : 'status' },
    o ? o.text : null,
  );
}

// ---------------------------------------------------------------------------------------------
// Controls
// ---------------------------------------------------------------------------------------------

export interface ButtonProps {
  kind?: 'primary' | 'secondary' | 'danger' | 'link';
  busy?: boolean;
  disabled?: boolean;
  type?: 'button' | 'submit';
  onClick?: (e: MouseEvent) => void;
  children?: ComponentChildren;
  title?: string;
  'aria-label'?: string;
  'aria-expanded'?: boolean;
  'aria-controls'?: string;
  small?: boolean;
}

export function Button(props: ButtonProps): ComponentChild {
  const { kind = 'secondary', busy, disabled, type = 'button', onClick, children, small, ...rest } = props;
  return h(
    'button',
    {
      type,
      class: `btn btn-${kind}${small ? ' btn-small' : ''}`,
      disabled: disabled || busy,
      'aria-busy': busy ? 'true' : undefined,
      onClick,
      ...rest,
    },
    children,
  );
}

interface FieldShell {
  id: string;
  label: ComponentChildren;
  hint?: ComponentChildren;
  error?: string | null;
  inline?: boolean;
}

function fieldShell(p: FieldShell, control: (describedBy: string | undefined) => ComponentChild): ComponentChild {
  const hintId = p.hint ? `${p.id}-hint` : undefined;
  const errorId = p.error ? `${p.id}-error` : undefined;
  const describedBy = [hintId, errorId].filter(Boolean).join(' ') || undefined;
  return h(
    'div',
    { class: `field${p.inline ? ' field-inline' : ''}${p.error ? ' field-invalid' : ''}` },
    h('label', { for: p.id }, p.label),
    control(describedBy),
    p.hint ? h('div', { class: 'hint', id: hintId }, p.hint) : null,
    p.error ? h('div', { class: 'field-error', id: errorId }, p.error) : null,
  );
}

export interface TextFieldProps extends FieldShell {
  value: string;
  onInput: (value: string) => void;
  type?: string;
  required?: boolean;
  placeholder?: string;
  autoComplete?: string;
  list?: string;
  min?: number;
  max?: number;
  disabled?: boolean;
  spellcheck?: boolean;
}

export function TextField(p: TextFieldProps): ComponentChild {
  return fieldShell(p, (describedBy) =>
    h('input', {
      id: p.id,
      name: p.id,
      type: p.type ?? 'text',
      value: p.value,
      required: p.required,
      placeholder: p.placeholder,
      autocomplete: p.autoComplete ?? 'off',
      list: p.list,
      min: p.min,
      max: p.max,
      disabled: p.disabled,
      spellcheck: p.spellcheck ?? false,
      'aria-describedby': describedBy,
      'aria-invalid': p.error ? 'true' : undefined,
      onInput: (e: Event) => p.onInput((e.currentTarget as HTMLInputElement).value),
    }),
  );
}

export interface TextAreaProps extends FieldShell {
  value: string;
  onInput: (value: string) => void;
  rows?: number;
  required?: boolean;
}

export function TextArea(p: TextAreaProps): ComponentChild {
  return fieldShell(p, (describedBy) =>
    h('textarea', {
      id: p.id,
      name: p.id,
      rows: p.rows ?? 8,
      value: p.value,
      required: p.required,
      spellcheck: false,
      class: 'code',
      'aria-describedby': describedBy,
      'aria-invalid': p.error ? 'true' : undefined,
      onInput: (e: Event) => p.onInput((e.currentTarget as HTMLTextAreaElement).value),
    }),
  );
}

export interface SelectFieldProps extends FieldShell {
  value: string;
  onChange: (value: string) => void;
  options: { value: string; label: string }[];
  disabled?: boolean;
}

export function SelectField(p: SelectFieldProps): ComponentChild {
  return fieldShell(p, (describedBy) =>
    h(
      'select',
      {
        id: p.id,
        name: p.id,
        value: p.value,
        disabled: p.disabled,
        'aria-describedby': describedBy,
        onChange: (e: Event) => p.onChange((e.currentTarget as HTMLSelectElement).value),
      },
      p.options.map((o) => h('option', { value: o.value, key: o.value }, o.label)),
    ),
  );
}

export function CheckboxField(p: { id: string; label: ComponentChildren; checked: boolean; onChange: (checked: boolean) => void; hint?: string }): ComponentChild {
  return h(
    'div',
    { class: 'field field-check' },
    h('input', { id: p.id, type: 'checkbox', checked: p.checked, onChange: (e: Event) => p.onChange((e.currentTarget as HTMLInputElement).checked) }),
    h('label', { for: p.id }, p.label),
    p.hint ? h('div', { class: 'hint' }, p.hint) : null,
  );
}

// ---------------------------------------------------------------------------------------------
// Layout pieces
// ---------------------------------------------------------------------------------------------

export function Section(props: { title: ComponentChildren; id: string; actions?: ComponentChildren; children?: ComponentChildren; class?: string }): ComponentChild {
  return h(
    'section',
    { class: `panel ${props.class ?? ''}`, 'aria-labelledby': `${props.id}-title` },
    h('div', { class: 'panel-head' }, h('h2', { id: `${props.id}-title` }, props.title), props.actions ? h('div', { class: 'panel-actions' }, props.actions) : null),
    props.children,
  );
}

export function Empty(props: { children?: ComponentChildren }): ComponentChild {
  return h('p', { class: 'empty' }, props.children);
}

export function LoadError(props: { error: string | null }): ComponentChild {
  return props.error ? h('p', { class: 'outcome outcome-error', role: 'alert' }, props.error) : null;
}

export function Loading(): ComponentChild {
  return h('p', { class: 'loading', role: 'status' }, 'Loading…');
}

export function Badge(props: { kind: string; children?: ComponentChildren; title?: string }): ComponentChild {
  return h('span', { class: `badge badge-${props.kind}`, title: props.title }, props.children);
}

export function Pager(props: { label: string; summary: ComponentChildren; hasPrev: boolean; hasNext: boolean; onPrev: () => void; onNext: () => void }): ComponentChild {
  return h(
    'nav',
    { class: 'pager', 'aria-label': props.label },
    h('span', { class: 'pager-summary' }, props.summary),
    h(Button, { onClick: props.onPrev, disabled: !props.hasPrev, small: true }, '← Previous'),
    h(Button, { onClick: props.onNext, disabled: !props.hasNext, small: true }, 'Next →'),
  );
}

// ---------------------------------------------------------------------------------------------
// Confirmation dialog (native <dialog>: focus is trapped and Escape cancels)
// ---------------------------------------------------------------------------------------------

export interface ConfirmRequest {
  title: string;
  text: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
}

export function useConfirm(): { dialog: ComponentChild; confirm: (req: ConfirmRequest) => Promise<boolean> } {
  const ref = useRef<HTMLDialogElement>(null);
  const [request, setRequest] = useState<ConfirmRequest | null>(null);
  const resolver = useRef<((ok: boolean) => void) | null>(null);
  const titleId = useId('confirm-title');
  useEffect(() => {
    const dialog = ref.current;
    if (request && dialog && !dialog.open) dialog.showModal();
  }, [request]);
  const finish = (ok: boolean) => {
    ref.current?.close();
    setRequest(null);
    resolver.current?.(ok);
    resolver.current = null;
  };
  const dialog = h(
    'dialog',
    { ref, class: 'dialog', 'aria-labelledby': titleId, onCancel: (e: Event) => (e.preventDefault(), finish(false)) },
    request
      ? h(
          'form',
          { method: 'dialog', onSubmit: (e: Event) => (e.preventDefault(), finish(true)) },
          h('h2', { id: titleId }, request.title),
          h('div', { class: 'dialog-body' }, request.text),
          h(
            'div',
            { class: 'dialog-actions' },
            h(Button, { onClick: () => finish(false) }, 'Cancel'),
            h(Button, { type: 'submit', kind: request.danger ? 'danger' : 'primary' }, request.confirmLabel),
          ),
        )
      : null,
  );
  const confirm = (req: ConfirmRequest) =>
    new Promise<boolean>((resolve) => {
      resolver.current = resolve;
      setRequest(req);
    });
  return { dialog, confirm };
}

/** Sets the document title for a page. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · Switchboard`;
  }, [title]);
}

/** Polls `fn` every `ms` while the page is visible. */
export function useInterval(fn: () => void, ms: number): void {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') saved.current();
    }, ms);
    return () => clearInterval(timer);
  }, [ms]);
}
