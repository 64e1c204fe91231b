/**
 * Hot-path file reading for cgroup and /proc files: one preallocated Buffer, synchronous open/read/close
 * (no thread-pool round trip, no per-read allocation) and byte-level parsers that never build a string
 * for a number. A scrape of 1,000 containers reads ~13,000 small files; everything here is shaped by that.
 */
import * as fs from 'node:fs';

/** Why the last read failed: the errno code (`ENOENT`, `EACCES`, …) or '' after a success. */
export type ReadFailure = string;

export class FileReader {
  buf: Buffer;
  /** Bytes of the last successful read. */
  len = 0;
  /** errno code of the last failed read ('' after a success). */
  failure: ReadFailure = '';

  constructor(initialSize = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  /** Reads the whole file into `buf`; returns false (and sets `failure`) on any error. */
  read(path: string): boolean {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (err) {
      this.failure = (err as NodeJS.ErrnoException).code ?? 'EIO';
      return false;
    }
    try {
      let off = 0;
      for (;;) {
        if (off === this.buf.length) {
          const bigger = Buffer.allocUnsafe(this.buf.length * 2);
          this.buf.copy(bigger, 0, 0, off);
          this.buf = bigger;
        }
        const want = this.buf.length - off;
        const n = fs.readSync(fd, this.buf, off, want, null);
        if (n === 0) break;
        off += n;
        // cgroup and /proc files are seq_files: a short read of a file under one page means end of file,
        // which saves the extra read() that would return 0 (one syscall of ~4 per file).
        if (n < want && off < 4096) break;
      }
      this.len = off;
      this.failure = '';
      return true;
    } catch (err) {
      this.failure = (err as NodeJS.ErrnoException).code ?? 'EIO';
      return false;
    } finally {
      try { fs.closeSync(fd); } catch { /* nothing useful to do */ }
    }
  }
}

/** Position right after the last number parsed by parseUintAt/parseLimitAt. */
export let parsedEnd = 0;

const C0 = 48;
const C9 = 57;

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/**
 * Unsigned decimal at `pos` (leading blanks skipped). NaN when no digit is there.
 * Values above 2^53 lose precision, which is fine for "unlimited" sentinels like 9223372036854771712.
 */
export function parseUintAt(buf: Buffer, pos: number, end: number): number {
  while (pos < end && (buf[pos] === 32 || buf[pos] === 9)) pos++;
  let v = 0;
  const start = pos;
  while (pos < end) {
    const c = buf[pos]!;
    if (c < C0 || c > C9) break;
    v = v * 10 + (c - C0);
    pos++;
  }
  parsedEnd = pos;
  return pos === start ? NaN : v;
}

/** Like parseUintAt but also accepts `max` (→ +Infinity) and `-1` (→ -1), as limit files use them. */
export function parseLimitAt(buf: Buffer, pos: number, end: number): number {
  while (pos < end && (buf[pos] === 32 || buf[pos] === 9)) pos++;
  if (buf[pos] === 109 /* m */ && buf[pos + 1] === 97 && buf[pos + 2] === 120) {
    parsedEnd = pos + 3;
    return Infinity;
  }
  if (buf[pos] === 45 /* - */) {
    const v = parseUintAt(buf, pos + 1, end);
    return Number.isNaN(v) ? NaN : -v;
  }
  return parseUintAt(buf, pos, end);
}

/** A file holding a single number, e.g. `memory.usage_in_bytes`: the number must be followed by blanks only. */
export function parseSingle(buf: Buffer, len: number, allowMax = false): number {
  const v = allowMax ? parseLimitAt(buf, 0, len) : parseUintAt(buf, 0, len);
  for (let i = parsedEnd; i < len; i++) if (!isSpace(buf[i]!)) return NaN;
  return v;
}

/** Number of non-empty lines (cgroup.procs). */
export function countLines(buf: Buffer, len: number): number {
  let n = 0;
  let inLine = false;
  for (let i = 0; i < len; i++) {
    if (buf[i] === 10) { if (inLine) n++; inLine = false; } else inLine = true;
  }
  return inLine ? n + 1 : n;
}

/**
 * Lookup table from `key` byte strings to slots, for "key value" files (memory.stat, cpu.stat, …).
 * Keys are found by a multiplicative hash over their bytes and confirmed byte by byte: no string per line.
 */
export class KeyTable {
  private readonly size: number;
  private readonly slots: Int32Array;
  private readonly keys: Buffer[];
  private readonly ids: number[];

  constructor(entries: ReadonlyArray<readonly [string, number]>) {
    let size = 16;
    while (size < entries.length * 4) size *= 2;
    this.size = size;
    this.slots = new Int32Array(size).fill(-1);
    this.keys = [];
    this.ids = [];
    for (const [k, id] of entries) {
      const b = Buffer.from(k, 'latin1');
      let h = hashBytes(b, 0, b.length) & (size - 1);
      while (this.slots[h] !== -1) h = (h + 1) & (size - 1);
      this.slots[h] = this.keys.length;
      this.keys.push(b);
      this.ids.push(id);
    }
  }

  /** The id of the key buf[start,end) or -1. */
  find(buf: Buffer, start: number, end: number): number {
    let h = hashBytes(buf, start, end) & (this.size - 1);
    for (;;) {
      const s = this.slots[h]!;
      if (s === -1) return -1;
      const k = this.keys[s]!;
      if (k.length === end - start) {
        let same = true;
        for (let i = 0; i < k.length; i++) if (k[i] !== buf[start + i]) { same = false; break; }
        if (same) return this.ids[s]!;
      }
      h = (h + 1) & (this.size - 1);
    }
  }
}

function hashBytes(buf: Buffer, start: number, end: number): number {
  let h = 2166136261;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i]!, 16777619);
  return (h ^ (h >>> 15)) >>> 0;
}

/**
 * Parses "key value" lines; for each known key stores the value into out[id]. Returns the number of
 * known keys seen, or -1 when a known key's value is not a number (malformed file).
 */
export function parseKeyValues(buf: Buffer, len: number, table: KeyTable, out: Float64Array): number {
  let pos = 0;
  let seen = 0;
  while (pos < len) {
    const ks = pos;
    while (pos < len && buf[pos] !== 32 && buf[pos] !== 10) pos++;
    const ke = pos;
    const id = ke > ks ? table.find(buf, ks, ke) : -1;
    if (id >= 0) {
      const v = parseUintAt(buf, pos, len);
      if (Number.isNaN(v)) return -1;
      out[id] = v;
      seen++;
      pos = parsedEnd;
    }
    while (pos < len && buf[pos] !== 10) pos++;
    pos++;
  }
  return seen;
}
