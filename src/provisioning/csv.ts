/**
 * CSV reading (RFC 4180) for variable and bootstrap imports.
 *
 * Accepted: comma or semicolon separators (detected from the header line, since spreadsheets in
 * many locales export `;`), quoted fields with `""` escapes and embedded newlines, CRLF or LF line
 * ends, a UTF-8 byte order mark, blank lines (skipped). Refused with the line number: an unclosed
 * quote, text after a closing quote, a row with more fields than the header, duplicate or empty
 * header names.
 */

/** A CSV problem, with the 1-based line where it was found. */
export class CsvError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'CsvError';
  }
}

export interface CsvTable {
  header: string[];
  /** One object per data row, keyed by header name; cells missing at the end of a short row are ''. */
  rows: { line: number; cells: Record<string, string> }[];
}

/** Largest number of rows accepted in one import (a fleet of this size fits in one file). */
export const MAX_CSV_ROWS = 100_000;
/** Longest cell accepted. */
const MAX_CELL_LENGTH = 4096;

function detectSeparator(text: string): ',' | ';' {
  const firstLine = text.slice(0, text.search(/\r?\n|$/));
  const commas = (firstLine.match(/,/g) ?? []).length;
  const semicolons = (firstLine.match(/;/g) ?? []).length;
  return semicolons > commas ? ';' : ',';
}

/**
 * Splits CSV text into records of raw fields.
 * @returns records with the line each starts on.
 * @throws CsvError on malformed quoting or an oversized cell.
 */
function records(text: string, sep: string): { line: number; fields: string[] }[] {
  const out: { line: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let recordLine = 1;
  let i = 0;
  let quoted = false;
  let afterQuote = false;
  const pushField = () => {
    if (field.length > MAX_CELL_LENGTH) throw new CsvError(`a cell is longer than ${MAX_CELL_LENGTH} characters`, line);
    fields.push(field);
    field = '';
    afterQuote = false;
  };
  const pushRecord = () => {
    pushField();
    // A record made of one empty field is a blank line.
    if (!(fields.length === 1 && fields[0] === '')) out.push({ line: recordLine, fields });
    if (out.length > MAX_CSV_ROWS + 1) throw new CsvError(`more than ${MAX_CSV_ROWS} rows`, line);
    fields = [];
  };
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        afterQuote = true;
        i++;
        continue;
      }
      if (c === '\n') line++;
      field += c;
      i++;
      continue;
    }
    if (c === sep) {
      pushField();
      i++;
      continue;
    }
    if (c === '\r' || c === '\n') {
      pushRecord();
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line++;
      recordLine = line;
      continue;
    }
    if (afterQuote) throw new CsvError('text after a closing quote (quote the whole cell and double inner quotes)', line);
    if (c === '"') {
      if (field.trim() !== '') throw new CsvError('a quote inside an unquoted cell (quote the whole cell)', line);
      field = '';
      quoted = true;
      i++;
      continue;
    }
    field += c;
    i++;
  }
  if (quoted) throw new CsvError('a quoted cell is not closed', line);
  if (field !== '' || fields.length > 0) pushRecord();
  return out;
}

/**
 * Parses CSV text with a header line.
 * @returns the header names (trimmed) and the data rows.
 * @throws CsvError for malformed CSV, an empty file, bad headers or a row longer than the header.
 */
export function parseCsv(input: string): CsvTable {
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  const recs = records(text, detectSeparator(text));
  if (recs.length === 0) throw new CsvError('the file is empty (a header line is required)', 1);
  const header = recs[0].fields.map((h) => h.trim());
  const seen = new Set<string>();
  header.forEach((h, i) => {
    if (h === '') throw new CsvError(`header column ${i + 1} has no name`, recs[0].line);
    if (seen.has(h)) throw new CsvError(`header "${h}" appears twice`, recs[0].line);
    seen.add(h);
  });
  const rows = recs.slice(1).map((r) => {
    if (r.fields.length > header.length) {
      throw new CsvError(`${r.fields.length} cells but the header has ${header.length} columns`, r.line);
    }
    const cells: Record<string, string> = {};
    header.forEach((h, i) => {
      cells[h] = (r.fields[i] ?? '').trim();
    });
    return { line: r.line, cells };
  });
  return { header, rows };
}

/**
 * Formats rows as CSV (comma separated, CRLF line ends, quoting only where needed).
 * @returns the CSV text with a header line.
 */
export function formatCsv(header: readonly string[], rows: readonly Record<string, string>[]): string {
  const cell = (v: string) => (/[",\r\n;]/.test(v) || /^\s|\s$/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const lines = [header.map(cell).join(',')];
  for (const r of rows) lines.push(header.map((h) => cell(r[h] ?? '')).join(','));
  return lines.join('\r\n') + '\r\n';
}
