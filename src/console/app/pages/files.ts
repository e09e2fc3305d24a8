/** Files: upload firmware and configuration files, list them, delete them. */
import { h } from 'preact';
import { useRef, useState } from 'preact/hooks';
import { call, del, seg } from '../api.ts';
import { bytes, dateTime } from '../format.ts';
import { FILE_TYPES, type StoredFile } from '../filepick.ts';
import { NotAvailable, useOptional } from '../provisioning.ts';
import { Button, LoadError, Loading, OutcomeMessage, Section, SelectField, TextField, useAction, useConfirm, useTitle, type ComponentChild } from '../ui.ts';

interface FileRecord extends StoredFile {
  sha256: string;
  oui: string | null;
  description: string | null;
  url: string;
  createdAt: string;
}

export function FilesPage(): ComponentChild {
  useTitle('Files');
  const files = useOptional<{ files: FileRecord[] }>('/api/files', { limit: 500 });
  const inputRef = useRef<HTMLInputElement>(null);
  const [name, setName] = useState('');
  const [fileType, setFileType] = useState(FILE_TYPES[0].value);
  const [version, setVersion] = useState('');
  const [productClass, setProductClass] = useState('');
  const upload = useAction();
  const remove = useAction();
  const { dialog, confirm } = useConfirm();

  const submit = (e: Event) => {
    e.preventDefault();
    const file = inputRef.current?.files?.[0];
    void upload.run(async () => {
      if (!file) return { kind: 'error', text: 'Choose a file to upload.' };
      const record = await call<FileRecord>('POST', '/api/files', {
        raw: { data: file, contentType: 'application/octet-stream' },
        query: { name: name.trim() || file.name, fileType, version: version.trim() || undefined, productClass: productClass.trim() || undefined },
      });
      files.reload();
      setName('');
      setVersion('');
      if (inputRef.current) inputRef.current.value = '';
      return `Uploaded ${record.name} (${bytes(record.size)}${record.version ? `, version ${record.version}` : ''}). Devices download it from ${record.url}.`;
    });
  };
  const doDelete = async (f: FileRecord) => {
    if (!(await confirm({ title: 'Delete file', text: `Delete ${f.name}? Devices can no longer download it.`, confirmLabel: 'Delete', danger: true }))) return;
    await remove.run(async () => {
      await del(`/api/files/${seg(f.id)}`);
      files.reload();
      return `${f.name} was deleted.`;
    });
  };

  const available = files.data?.available;
  return h(
    'div',
    { class: 'page' },
    dialog,
    h('div', { class: 'page-head' }, h('h1', null, 'Files'), h('p', { class: 'muted' }, 'Firmware images and configuration files devices download.')),
    h(LoadError, { error: files.error }),
    !files.data && files.loading ? h(Loading, null) : null,
    available === false ? h(NotAvailable, { what: 'Files' }) : null,
    available
      ? h(
          Section,
          { id: 'file-upload', title: 'Upload a file' },
          h(
            'form',
            { class: 'inline-form', onSubmit: submit, 'aria-label': 'Upload a file' },
            h('div', { class: 'field' }, h('label', { for: 'file-content' }, 'File'), h('input', { id: 'file-content', type: 'file', ref: inputRef, required: true, onChange: () => setName(inputRef.current?.files?.[0]?.name ?? '') })),
            h(TextField, { id: 'file-name', label: 'Name devices see', value: name, onInput: setName, hint: 'Default: the file\'s own name. No spaces or slashes.' }),
            h(SelectField, { id: 'file-type', label: 'File type', value: fileType, onChange: setFileType, options: FILE_TYPES }),
            h(TextField, { id: 'file-version', label: 'Version', value: version, onInput: setVersion, hint: 'The SoftwareVersion after install; read from the image header when it has one.' }),
            h(TextField, { id: 'file-model', label: 'Model (product class)', value: productClass, onInput: setProductClass, hint: 'Empty: any model.' }),
            h('div', { class: 'form-actions' }, h(Button, { type: 'submit', kind: 'primary', busy: upload.busy }, upload.busy ? 'Uploading…' : 'Upload')),
            h(OutcomeMessage, { outcome: upload.outcome }),
          ),
        )
      : null,
    available
      ? h(
          Section,
          { id: 'file-list', title: 'Stored files' },
          h(OutcomeMessage, { outcome: remove.outcome }),
          files.data?.value?.files.length === 0
            ? h('p', { class: 'empty' }, 'No files yet.')
            : h(
                'div',
                { class: 'table-wrap' },
                h(
                  'table',
                  { class: 'table' },
                  h('thead', null, h('tr', null, ['Name', 'Type', 'Version', 'Model', 'Size', 'Download URL', 'Added', 'Actions'].map((c) => h('th', { scope: 'col', key: c }, c)))),
                  h(
                    'tbody',
                    null,
                    (files.data?.value?.files ?? []).map((f) =>
                      h(
                        'tr',
                        { key: f.id },
                        h('th', { scope: 'row' }, f.name),
                        h('td', { class: 'nowrap' }, f.fileType),
                        h('td', null, f.version ?? '—'),
                        h('td', null, f.productClass ?? 'any'),
                        h('td', { class: 'num' }, bytes(f.size)),
                        h('td', null, h('code', { class: 'small' }, f.url)),
                        h('td', { class: 'nowrap' }, dateTime(f.createdAt)),
                        h('td', null, h(Button, { small: true, kind: 'danger', onClick: () => void doDelete(f), 'aria-label': `Delete ${f.name}` }, 'Delete')),
                      ),
                    ),
                  ),
                ),
              ),
        )
      : null,
  );
}
