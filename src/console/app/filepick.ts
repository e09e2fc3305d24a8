/**
 * Choosing what to push to devices: a file from the file store (when the server has one) or a URL
 * typed by hand, with its TR-069 file type. Produces the `download` task body.
 */
import { h, type ComponentChild } from 'preact';
import { useState } from 'preact/hooks';
import { get, isMissingRoute } from './api.ts';
import { Button, SelectField, TextField, useId, useLoad } from './ui.ts';

export interface StoredFile {
  id: string;
  name: string;
  fileType: string;
  version: string | null;
  productClass: string | null;
  size: number;
  /** Where devices download it from, when the server says. */
  url?: string;
}

export const FILE_TYPES = [
  { value: '1 Firmware Upgrade Image', label: 'Firmware (1 Firmware Upgrade Image)' },
  { value: '3 Vendor Configuration File', label: 'Configuration (3 Vendor Configuration File)' },
  { value: '2 Web Content', label: 'Web content (2 Web Content)' },
];

/** Lists the server's files; `available` is false when the server has no file store. */
export function useFiles(): { available: boolean; files: StoredFile[]; error: string | null } {
  const loaded = useLoad(async (signal) => {
    try {
      const answer = await get<{ files: StoredFile[] }>('/api/files', { limit: 200 }, signal);
      return { available: true, files: answer.files };
    } catch (err) {
      if (isMissingRoute(err)) return { available: false, files: [] as StoredFile[] };
      throw err;
    }
  }, []);
  return { available: loaded.data?.available ?? false, files: loaded.data?.files ?? [], error: loaded.error };
}

/** The download task for a stored file (the server fills URL and credentials) or a typed URL. */
export type PushChoice = { kind: 'file'; file: StoredFile } | { kind: 'url'; url: string; fileType: string };

export function downloadPayload(choice: PushChoice): Record<string, unknown> {
  if (choice.kind === 'file') {
    return { type: 'download', fileType: choice.file.fileType, url: choice.file.url ?? '', fileSize: choice.file.size, targetFileName: choice.file.name };
  }
  return { type: 'download', fileType: choice.fileType, url: choice.url };
}

export function PushFileForm(props: { onPush: (choice: PushChoice) => void; busy: boolean; onCancel?: () => void; defaultType?: string }): ComponentChild {
  const files = useFiles();
  const prefix = useId('push');
  const [fileId, setFileId] = useState('');
  const [url, setUrl] = useState('');
  const [fileType, setFileType] = useState(props.defaultType ?? FILE_TYPES[0].value);
  const withUrl = files.files.filter((f) => f.url);
  const submit = (e: Event) => {
    e.preventDefault();
    const file = withUrl.find((f) => f.id === fileId);
    if (file) props.onPush({ kind: 'file', file });
    else props.onPush({ kind: 'url', url: url.trim(), fileType });
  };
  return h(
    'form',
    { class: 'inline-form', onSubmit: submit, 'aria-label': 'Push a file' },
    withUrl.length > 0
      ? h(SelectField, {
          id: `${prefix}-file`,
          label: 'File',
          value: fileId,
          onChange: setFileId,
          options: [{ value: '', label: 'A URL (below)…' }, ...withUrl.map((f) => ({ value: f.id, label: `${f.name}${f.version ? ` (${f.version})` : ''} — ${f.fileType}` }))],
        })
      : null,
    fileId === ''
      ? [
          h(TextField, { id: `${prefix}-url`, label: 'File URL', type: 'url', value: url, onInput: setUrl, required: true, placeholder: 'http://files.example.net/gxp2140fw.bin', key: 'url' }),
          h(SelectField, { id: `${prefix}-type`, label: 'File type', value: fileType, onChange: setFileType, options: FILE_TYPES, key: 'type' }),
        ]
      : null,
    h('div', { class: 'form-actions' }, h(Button, { type: 'submit', kind: 'primary', busy: props.busy }, 'Push'), props.onCancel ? h(Button, { onClick: props.onCancel }, 'Cancel') : null),
  );
}
