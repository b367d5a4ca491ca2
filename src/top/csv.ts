// `vmm-stats top --csv FILE`: one row per VM per refresh, as `virt-top --csv` and `kvm_stat -c -L` log
// unattended. RFC 4180 quoting (a VM name may hold commas, quotes and line breaks); lines end in LF.
//
// The file is appended to, never truncated: restarting top on the same file keeps what it logged before.
// The header is written when the file is empty (new, or emptied by logrotate's copytruncate); an existing
// file whose header is another (other --fields) is refused rather than mixed. reopen() is for rotation:
// after the file was renamed, SIGHUP makes top open the path again, and a new file starts with a header.
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { fieldOf, type FieldId } from './fields.js';
import type { VmRow } from './model.js';

/** A cell as RFC 4180 writes it: quoted when it holds a comma, a quote, a line break or edge spaces. */
export function csvCell(text: string): string {
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvHeader(fields: readonly FieldId[]): string {
  return ['time', 'vm', ...fields.map((id) => fieldOf(id).csvName)].join(',') + '\n';
}

function csvValue(row: VmRow, id: FieldId): string {
  const field = fieldOf(id);
  const value = field.value(row);
  return value === undefined ? '' : String(Number(value.toFixed(field.csvDecimals)));
}

/** One line per VM, each with the refresh's time (ISO 8601, UTC); an unknown rate is an empty cell. */
export function csvLines(rows: readonly VmRow[], fields: readonly FieldId[], at: Date): string {
  const time = at.toISOString();
  return rows.map((row) => [time, csvCell(row.name), ...fields.map((id) => csvValue(row, id))].join(',') + '\n').join('');
}

/** The first line of an open file, with its newline, read no further than `limit` bytes. */
function firstLine(fd: number, limit: number): string {
  const buffer = Buffer.alloc(limit);
  const length = readSync(fd, buffer, 0, limit, 0);
  const text = buffer.subarray(0, length).toString('utf8');
  const end = text.indexOf('\n');
  return end < 0 ? text : text.slice(0, end + 1);
}

/** Whether the file's last byte ends a line: a top that died mid-write may have left half of one. */
function endsLine(fd: number): boolean {
  const { size } = fstatSync(fd);
  if (size === 0) return true;
  const last = Buffer.alloc(1);
  readSync(fd, last, 0, 1, size - 1);
  return last[0] === 0x0a;
}

/**
 * Opens `path` for appending, writing `header` into an empty file and ending a cut last line (so that the
 * next line is not glued to it); throws when the file holds another header.
 */
function openLog(path: string, header: string): number {
  let fd: number;
  try {
    fd = openSync(path, 'a+');
  } catch (err) {
    throw new Error(`cannot open ${path}: ${(err as Error).message}`);
  }
  try {
    const existing = firstLine(fd, Buffer.byteLength(header) + 1);
    if (existing === '') writeSync(fd, header);
    else if (existing !== header) throw new Error(`${path} holds other columns (${existing.trim()}): give another file, or move that one away`);
    else if (!endsLine(fd)) writeSync(fd, '\n');
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

export class CsvLog {
  readonly #path: string;
  readonly #header: string;
  #fd: number;

  /** Throws, with the path in the message, when the file cannot be opened or holds other columns. */
  constructor(path: string, fields: readonly FieldId[]) {
    this.#path = path;
    this.#header = csvHeader(fields);
    this.#fd = openLog(path, this.#header);
  }

  /** Appends text made by csvLines; throws (disk full, file system gone) with the path in the message. */
  append(text: string): void {
    const bytes = Buffer.from(text);
    try {
      for (let written = 0; written < bytes.length; ) written += writeSync(this.#fd, bytes, written);
    } catch (err) {
      throw new Error(`writing ${this.#path}: ${(err as Error).message}`);
    }
  }

  /** Opens the path again (the file there may be a new one) and closes the old file once that worked. */
  reopen(): void {
    const fd = openLog(this.#path, this.#header);
    closeSync(this.#fd);
    this.#fd = fd;
  }

  close(): void {
    closeSync(this.#fd);
  }
}
