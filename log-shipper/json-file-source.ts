import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { SwarmwatchError } from '../core/errors.js';
import type { Cursor } from './cursor.js';
import type { StreamName } from './frames.js';
import { reopenDescriptor, type LogPart } from './log-copy.js';
import { compareTime, engineTimeText, parseEngineTime, parseEngineTimeAt, type EngineTime } from './timestamp.js';

/** One json-file entry: `{"log":"text\n","stream":"stdout","time":"RFC3339Nano"}`. */
export interface FileEntry {
  stream: StreamName;
  time: EngineTime;
  text: string;
  partial: boolean;
}

/**
 * Bytes read per step. Parsing stops where the delivery buffer fills (readMore's `stop`), so the chunk size does not
 * bound memory by itself; the lines held back then stay in the read buffer.
 */
const CHUNK = 128 * 1024;

/**
 * Read buffers not in use, shared by every source. A source holds one only while it reads and parses a chunk (and
 * while lines of it wait unparsed): reads are synchronous, so the readers of 50 busy containers take turns with one
 * or two buffers that stay in the CPU's cache, where a buffer each was 6.4 MiB of memory touched by every burst
 * (1,600 page faults) and kept for the containers' lives.
 */
const spareReadBuffers: Buffer[] = [];
const MAX_SPARE_READ_BUFFERS = 4;

const LOG_KEY = '{"log":"';

/**
 * A read that resumes at a time starts this far before it in the file (found by bisection on the lines' times), not
 * at the file's start: the engine takes each entry's time in its stdout or stderr copier before it writes the entry,
 * so the file is in time order only up to the moments between the two. A clock stepped back by more than this
 * while the container logged can hide entries from the bisection; they were already behind the cursor's time.
 */
const SEEK_MARGIN_S = 5;
/** Bytes read at each bisection step: enough for a complete line of the usual size after the probe point. */
const SEEK_PROBE = 64 * 1024;
/** Bytes read at each step of the search for the cursor's own entry (findEntry). */
const FIND_CHUNK = 1024 * 1024;

/**
 * The last bytes read from the live file, checked against the file again when a read comes after this long without
 * one (a reader paused while delivery was behind): a log emptied in place meanwhile and written past the read
 * position again holds other bytes there. A reader that keeps up notices a cut at its next read instead (the file
 * is then shorter than the read position). Entry times end in nanoseconds, so these bytes differ between entries.
 */
const CUT_CHECK_BYTES = 32;
const CUT_CHECK_AFTER_MS = 2000;
/** Lists and opens in a row, each beaten by a rotation, before the read gives up until its next retry. */
const MAX_NESTED_RESTARTS = 5;

/**
 * Parses one line as the engine writes it, `{"log":"…","stream":"stdout"[,"attrs":{…}],"time":"…"}`, with
 * JSON.parse: the general path. Complete lines of the usual layout never come here (plainLineLayout).
 */
export function parseJsonFileLine(line: string): FileEntry | undefined {
  let o: { log?: unknown; stream?: unknown; time?: unknown };
  try {
    o = JSON.parse(line) as typeof o;
  } catch {
    return undefined;
  }
  if (typeof o.log !== 'string' || typeof o.time !== 'string') return undefined;
  const time = parseEngineTime(o.time);
  if (!time) return undefined;
  const partial = !o.log.endsWith('\n');
  return { text: partial ? o.log : o.log.slice(0, -1), partial, stream: o.stream === 'stderr' ? 'stderr' : 'stdout', time };
}

/**
 * Takes a complete line whose log text is `buf[textStart, textEnd)` as the engine JSON-escaped it, without the
 * escaped final newline; `buf` is reused after the call returns.
 */
export type RawLineSink = (buf: Buffer, textStart: number, textEnd: number, stream: StreamName, time: EngineTime) => void;

/** Where plainLineLayout found the parts of a line (one shared object: the hot path makes none). */
const layout = { textStart: 0, textEnd: 0, timeStart: 0, timeEnd: 0, stream: 'stdout' as StreamName };

const LOG_KEY_BYTES = Buffer.from(LOG_KEY);
/** What lies between the log text's closing quote and the time's first character, for stdout; stderr differs at 15–17. */
const MIDDLE_BYTES = Buffer.from('","stream":"stdout","time":"');

/**
 * Whether `b[s, e)` is a complete line of the engine's usual layout, `{"log":"…\n","stream":"std…","time":"…"}`
 * (no attrs; the text ends with an escaped newline), and where its parts are (in `layout`). Read from the end:
 * the time is the last quoted value, and the fixed middle before it ends the log text (inside a JSON string
 * every quote is escaped, so the text cannot hold that middle). Everything else (attrs, a line the engine split,
 * a line cut by a crash) is left to parseJsonFileLine.
 */
function plainLineLayout(b: Buffer, s: number, e: number): boolean {
  if (e - s < 8 + MIDDLE_BYTES.length + 4 || b[e - 1] !== 125 /* } */ || b[e - 2] !== 34 /* " */) return false;
  for (let i = 0; i < 8; i++) if (b[s + i] !== LOG_KEY_BYTES[i]) return false;
  let q = e - 3;
  const limit = Math.max(s + 8, e - 40);
  while (q >= limit && b[q] !== 34) q--;
  if (q < limit) return false;
  const middle = q + 1 - MIDDLE_BYTES.length;
  if (middle < s + 8 + 2) return false;
  let err = false;
  for (let i = 0; i < MIDDLE_BYTES.length; i++) {
    const c = b[middle + i];
    if (c === MIDDLE_BYTES[i]) continue;
    // "stdout" → "stderr": positions 15, 16, 17 of the middle.
    if (i === 15 && c === 101 /* e */ && b[middle + 16] === 114 && b[middle + 17] === 114) { err = true; i = 17; continue; }
    return false;
  }
  if (!endsWithEscape(b, s + 8, middle, 110 /* n */)) return false;
  layout.textStart = s + 8;
  layout.textEnd = middle - 2;
  layout.timeStart = q + 1;
  layout.timeEnd = e - 2;
  layout.stream = err ? 'stderr' : 'stdout';
  return true;
}

/**
 * Whether the escaped text `b[start, end)` holds a quote after a byte that is no backslash, which no text of an
 * entry holds (inside a JSON string every quote is escaped): a write cut by a crash, with the entry the engine wrote
 * after its restart glued to it (and its `{"log":"`), looks like an entry from its end.
 */
function holdsUnescapedQuote(b: Buffer, start: number, end: number): boolean {
  for (let k = b.indexOf(34, start); k >= 0 && k < end; k++) if (b[k] === 34 && b[k - 1] !== 92 /* \\ */) return true;
  return false;
}

function holdsNul(b: Buffer, s: number, e: number): boolean {
  const z = b.indexOf(0, s);
  return z >= 0 && z < e;
}

/**
 * Whether the escaped text `b[start, end)` ends with the escape "\\" + `letter`: the backslash must not itself be
 * escaped, i.e. an odd run of backslashes precedes the letter.
 */
export function endsWithEscape(b: Buffer, start: number, end: number, letter: number): boolean {
  if (end - start < 2 || b[end - 1] !== letter) return false;
  let k = end - 2;
  while (k >= start && b[k] === 92 /* \ */) k--;
  return (end - 2 - k) % 2 === 1;
}

/**
 * The text of an escaped log text: JSON.parse only when it holds an escape. An escape the engine never writes
 * (a damaged file) leaves the text as it is in the file rather than failing the read.
 */
export function decodeEscapedText(b: Buffer, start: number, end: number): string {
  const text = b.toString('utf8', start, end);
  for (let i = start; i < end; i++) {
    if (b[i] !== 92 /* \\ */) continue;
    try {
      return JSON.parse(`"${text}"`) as string;
    } catch {
      return text;
    }
  }
  return text;
}

interface OpenFile {
  /** For plain files. */
  fd?: number;
  /** For gzipped rotated files: the whole decompressed content. */
  data?: Buffer;
  ino: number;
  offset: number;
  live: boolean;
  /** The live path now names another file; one more read to the end, then switch. */
  sawRotation?: boolean;
}

/**
 * A rotated file as listed: its path at that moment and its inode. Every rotation gives each rotated file the next
 * index (and, once max-file is reached, the names stay the same set), so only the inode says which file a name
 * still stands for.
 */
interface RotatedFile {
  path: string;
  ino: number;
}

/** Whether two listings hold the same files in the same order (by inode, not name: see RotatedFile). */
function sameFiles(a: readonly RotatedFile[], b: readonly RotatedFile[]): boolean {
  return a.length === b.length && a.every((f, i) => f.ino === b[i]!.ino);
}

/** A json-file log rotated during every attempt to list and open its files (open()). */
export const SW_ERR_SHIPPER_LOG_ROTATING = 'SW_ERR_SHIPPER_LOG_ROTATING';

function rotatingTooFast(logPath: string, attempts: number): SwarmwatchError {
  return new SwarmwatchError(SW_ERR_SHIPPER_LOG_ROTATING, `${logPath} was rotated during each of ${attempts} attempts to list and open its files`, {
    culprit: logPath, fix: 'the container logs faster than its max-size allows to follow: raise its log-opt max-size',
  });
}

/**
 * Reads a container's json-file log directly: rotated files oldest first (`<log>.N` … `<log>.1`, gzipped or not),
 * then the live file, from a timestamp on, following the live file across rotations. The engine's logs API
 * flushes every entry of a follow stream on its own, which caps it near 25,000 lines/s here; the file is read in
 * 128 KiB chunks. Used only in read-mode "file" when the file is readable and the container logs with json-file.
 */
export class JsonFileSource {
  private files: RotatedFile[] = [];
  private current?: OpenFile;
  private carry: Buffer = Buffer.alloc(0);
  /** The read buffer while a chunk in it is read or waits unparsed; back in spareReadBuffers otherwise. */
  private buf?: Buffer;
  /** Last entry handed out and how many entries carried exactly its time: a reread after a rotation skips them. */
  private lastTime?: EngineTime;
  private lastCount = 0;

  /** Set by open(): the first plain file opened after it starts at startOffset(seekFrom). */
  private seekFrom?: Cursor;

  /** Bytes read from plain files so far, bisection probes included: what finding the starting point cost. */
  bytesRead = 0;
  /** Counts the files this source moved to (rotations followed): a watch on the path must be set again after one. */
  fileSwitches = 0;

  /**
   * `opened`: a descriptor of the live file opened earlier (EarlyLogFiles); the source owns it from here. Used when it
   * is still the file at `logPath`, or when that path is gone (the engine removed the container: the descriptor is
   * all that is left of its log).
   */
  constructor(readonly logPath: string, since: Cursor | undefined, private opened?: number) {
    this.resume = since && { time: since.time, left: since.count, handOut: true };
  }

  /**
   * Where the read resumes, until it is past that point: entries before `time` are done, then `left` more at exactly
   * `time` (the entry it resumes after, and those sharing its time before it). Past them (or at the first entry
   * after `time`, when the file does not hold them), the filter ends: the file is in write order, so what follows was
   * written later and is new whatever its time says. After a clock stepped back (NTP enabled on a clock that ran
   * ahead, `date -s`, a VM resumed from a snapshot) the engine stamps entries with times before the cursor's;
   * filtering every entry by time for the read's whole life dropped them all, silently, until the clock passed the
   * cursor's time again. `handOut`: the entries at exactly `time` are handed out, for the reader's tracker to count
   * and skip (a read that resumes at a cursor), or dropped here (a reread after a rotation or a cut: the tracker
   * already saw them).
   */
  private resume?: { time: EngineTime; left: number; handOut: boolean };

  /** The early descriptor if it may stand for the live file, else undefined (closed). */
  private takeOpened(): number | undefined {
    const fd = this.opened;
    if (fd === undefined) return undefined;
    this.opened = undefined;
    try {
      if (fs.fstatSync(fd).ino === fs.statSync(this.logPath).ino) return fd;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return fd;
    }
    // Rotated since it was opened: the listing finds it among the rotated files.
    fs.closeSync(fd);
    return undefined;
  }

  /** Time of the first entry of a file (plain or gzipped), undefined when unreadable or empty. */
  private firstTime(file: string): EngineTime | undefined {
    try {
      let head: Buffer;
      if (file.endsWith('.gz')) {
        // A prefix of the file inflates to a prefix of the content: enough for the first line.
        const fd = fs.openSync(file, 'r');
        let raw = Buffer.allocUnsafe(65536);
        try { raw = raw.subarray(0, fs.readSync(fd, raw, 0, 65536, 0)); } finally { fs.closeSync(fd); }
        head = zlib.gunzipSync(raw, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      } else {
        const fd = fs.openSync(file, 'r');
        try { head = Buffer.allocUnsafe(65536); head = head.subarray(0, fs.readSync(fd, head, 0, 65536, 0)); } finally { fs.closeSync(fd); }
      }
      const nl = head.indexOf(10);
      return parseJsonFileLine(head.toString('utf8', 0, nl < 0 ? head.length : nl))?.time;
    } catch {
      return undefined;
    }
  }

  /**
   * Where in the plain file `fd` to start reading after the entry at `from`: at the line of the first entry stamped
   * exactly `from.time` (admit() then counts off the `from.count` entries at that time), else where seekOffset's
   * bisection says. What was handed out is the file up to that entry, in write order: starting there hands out
   * nothing again (an entry of the other stream stamped a moment later but written before it is not repeated) and
   * misses nothing written after it, even with an older time. After a clock stepped back the file is no longer in
   * time order, and the bisection alone can start past the entry (every entry after it then looked old: all
   * dropped) or long before it (every entry stamped after its time before the step: all sent again).
   */
  private startOffset(fd: number, size: number, from: Cursor, live: boolean): number {
    const lo = this.seekOffset(fd, size, from.time);
    if (from.count === 0) return lo;
    return this.findEntry(fd, size, from.time, lo, live) ?? lo;
  }

  /**
   * The offset of the line holding the first entry stamped exactly `time`, searched from `lo` to the end, then, in
   * the live file, from the start to `lo`; undefined when the file holds none (the entry is in another file, was
   * rotated away, or the log was cut). Not before `lo` in a rotated file: the cursor's entry is absent from the
   * rotated file a resumed read starts in whenever it was the first entry of the next one, and the search would
   * read the whole file (a page-cached 174 MiB took 40 ms); a clock stepped back inside a rotated file is left to
   * the bisection. The needle is the entry's `"time":"…"}` as the engine writes it: inside an entry's text every
   * quote is escaped, so it cannot occur there. A time in another zone than UTC is not found: the bisection stands.
   */
  private findEntry(fd: number, size: number, time: EngineTime, lo: number, live: boolean): number | undefined {
    const needle = Buffer.from(`"time":"${engineTimeText(time)}"}`);
    const chunk = Buffer.allocUnsafe(FIND_CHUNK + needle.length);
    const search = (from: number, to: number): number | undefined => {
      for (let at = from; at < to; at += FIND_CHUNK) {
        const n = fs.readSync(fd, chunk, 0, Math.min(FIND_CHUNK + needle.length - 1, size - at), at);
        this.bytesRead += n;
        const hit = chunk.subarray(0, n).indexOf(needle);
        if (hit >= 0) return this.lineStart(fd, at + hit);
      }
      return undefined;
    };
    return search(lo, size) ?? (live ? search(0, Math.min(lo + needle.length, size)) : undefined);
  }

  /** The offset of the start of the line holding byte `at`. */
  private lineStart(fd: number, at: number): number {
    const back = Buffer.allocUnsafe(SEEK_PROBE);
    let end = at;
    while (end > 0) {
      const from = Math.max(0, end - SEEK_PROBE);
      const n = fs.readSync(fd, back, 0, end - from, from);
      this.bytesRead += n;
      const nl = back.subarray(0, n).lastIndexOf(10);
      if (nl >= 0) return from + nl + 1;
      end = from;
    }
    return 0;
  }

  /**
   * Where in the plain file `fd` (of `size` bytes) to start reading for entries at or after `from`: a line start
   * whose entry is more than SEEK_MARGIN_S older than `from`, as late as a bisection finds (0 when none is). Every
   * line the read then skips is still checked by admit(); starting early costs only parsing, so a probe that finds
   * no line it can read moves the search earlier. A shipper restart used to parse a live file from its start up to
   * the cursor (every line of a container that had logged for weeks), and so did every look at a stopped container.
   */
  private seekOffset(fd: number, size: number, from: EngineTime): number {
    const target: EngineTime = { sec: from.sec - SEEK_MARGIN_S, nsec: from.nsec };
    const probe = Buffer.allocUnsafe(SEEK_PROBE);
    let lo = 0; // a line start whose entry is before target (or the file's start)
    let hi = size; // no line starting at or after this is known to be before target
    while (hi - lo > SEEK_PROBE) {
      const mid = lo + Math.floor((hi - lo) / 2);
      const n = fs.readSync(fd, probe, 0, SEEK_PROBE, mid);
      this.bytesRead += n;
      const read = probe.subarray(0, n);
      const nl = read.indexOf(10);
      const end = nl < 0 ? -1 : read.indexOf(10, nl + 1);
      const time = end < 0 ? undefined : this.lineTime(read, nl + 1, end);
      if (time && mid + nl + 1 < hi && compareTime(time, target) < 0) lo = mid + nl + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The entry time of the line `b[s, e)`, undefined when it is not an entry (cut, garbage). */
  private lineTime(b: Buffer, s: number, e: number): EngineTime | undefined {
    if (plainLineLayout(b, s, e)) return parseEngineTimeAt(b, layout.timeStart, layout.timeEnd);
    return parseJsonFileLine(b.toString('utf8', s, e))?.time;
  }

  /** Rotated files that may hold entries at or after `from`: the newest one starting strictly before it, and later ones. */
  private rotatedFrom(from: EngineTime | undefined, liveFd: number): RotatedFile[] {
    const all = this.rotated();
    if (!from) return all;
    for (let i = all.length - 1; i >= 0; i--) {
      const t = this.firstTime(all[i]!.path);
      if (t && compareTime(t, from) < 0) return all.slice(i);
    }
    // Even the oldest file starts after the position: the file holding it was rotated away (max-file) before we read it.
    // No rotated file: the live file, through its descriptor (the path is gone when the container was removed).
    const oldest = all[0] !== undefined ? this.firstTime(all[0].path) : this.firstTime(`/proc/self/fd/${liveFd}`);
    if (oldest && compareTime(oldest, from) > 0) this.rotatedAway = true;
    return all;
  }

  /** Set when the entries right after the starting position may have been rotated away unread. */
  rotatedAway = false;

  /**
   * Set when the live file was found emptied or cut in place (`truncate -s 0` of a log filling the disk, logrotate's
   * `copytruncate`): the read went on after the last entry handed out, from a rotated copy holding it if there is
   * one, then from the file's new start. The engine appends (O_APPEND), so its next entries begin there; entries
   * written before the cut, not read yet and in no copy are gone, and how many is not known.
   */
  cutInPlace = false;

  /** The last CUT_CHECK_BYTES bytes read from the live file, ending at its read position (cutCheckLength of them). */
  private readonly cutCheck = Buffer.alloc(CUT_CHECK_BYTES);
  private cutCheckLength = 0;
  private lastReadAt = 0;

  /** Whether the bytes before the live file's read position are no longer those read there: the file was cut. */
  private wasCut(f: OpenFile): boolean {
    const n = this.cutCheckLength;
    if (n === 0 || f.offset < n) return false;
    const now = Buffer.allocUnsafe(n);
    return fs.readSync(f.fd!, now, 0, n, f.offset - n) !== n || !now.equals(this.cutCheck.subarray(0, n));
  }

  /**
   * Goes on after the last entry handed out, from the files listed again (restart): the cut file's new start, after
   * any rotated file that holds entries not read yet — logrotate's `copytruncate` copies the log to `<log>.1` before
   * it cuts it, so what the reader had not read is there. The cut is what is reported, not a rotation gap.
   */
  private readAfterCut(): void {
    this.cutInPlace = true;
    this.restart();
    this.rotatedAway = false;
  }

  /**
   * Rotated files, oldest first, from a directory listing: during a rotation the engine renames `.N` to `.N+1` one
   * by one and compresses `.1` in the background, so probing `.1`, `.2`… could stop at a momentary gap.
   * When both `.N` and `.N.gz` exist the gzip file is still being written: the plain one is complete.
   */
  private rotated(): RotatedFile[] {
    const dir = path.dirname(this.logPath);
    const base = path.basename(this.logPath) + '.';
    const byIndex = new Map<number, string>();
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch (err) {
      // Removed with its container while we hold the live file open: no rotated file is left.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    for (const name of names) {
      if (!name.startsWith(base)) continue;
      const m = /^(\d+)(\.gz)?$/.exec(name.slice(base.length));
      if (!m) continue;
      const n = Number(m[1]);
      if (!m[2] || !byIndex.has(n)) byIndex.set(n, path.join(dir, name));
    }
    const files: RotatedFile[] = [];
    for (const [, file] of [...byIndex.entries()].sort((a, b) => b[0] - a[0])) {
      try {
        files.push({ path: file, ino: fs.statSync(file).ino });
      } catch (err) {
        // Renamed or removed by a rotation since the listing: the caller's second listing will differ.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return files;
  }

  /**
   * After reading a file to its end: continue with the file that follows it. Names shift with every rotation, so
   * the file is found again by inode; when it is gone (compressed into a new file, or removed), fall back to
   * listing from the last entry handed out.
   */
  private afterFile(ino: number): void {
    const list = this.rotated();
    const idx = list.findIndex((f) => f.ino === ino);
    if (idx < 0) { this.restart(); return; }
    if (this.current?.fd !== undefined) fs.closeSync(this.current.fd);
    if (this.liveFd !== undefined && this.liveFd !== this.current?.fd) fs.closeSync(this.liveFd);
    this.current = undefined;
    this.liveFd = fs.openSync(this.logPath, 'r');
    const again = this.rotated();
    // A rotation during this look: the simple path cannot be trusted, take the careful one.
    if (!sameFiles(again, list)) { this.restart(); return; }
    this.files = list.slice(idx + 1);
    this.nextFile();
  }

  /** Lists the files again and resumes after the last entry handed out (skipping what was handed out). */
  private restart(): void {
    // open() comes back here when a rotation beat it to a file it listed; a log rotating that fast for this long
    // is what open()'s own attempts report, and the reader retries with backoff.
    if (this.restartDepth >= MAX_NESTED_RESTARTS) {
      throw rotatingTooFast(this.logPath, MAX_NESTED_RESTARTS);
    }
    this.restartDepth++;
    try {
      this.restartNow();
    } finally {
      this.restartDepth--;
    }
  }

  /** restart()s nested in one another: open() after a restart met another rotation. */
  private restartDepth = 0;

  private restartNow(): void {
    if (this.current?.fd !== undefined) fs.closeSync(this.current.fd);
    if (this.liveFd !== undefined && this.liveFd !== this.current?.fd) fs.closeSync(this.liveFd);
    this.current = undefined;
    this.liveFd = undefined;
    // Nothing handed out yet: the resume point is still the one the read began with.
    if (this.lastTime) this.resume = { time: this.lastTime, left: this.lastCount, handOut: false };
    this.open();
  }

  /** Lists the files; a rotation between listing and opening is caught by listing again. */
  open(): void {
    for (let attempt = 0; attempt < 5; attempt++) {
      const before = this.rotated();
      const fd = this.takeOpened() ?? fs.openSync(this.logPath, 'r');
      const after = this.rotated();
      if (sameFiles(before, after)) {
        // Files that end before `since` are not parsed at all: a restart costs one probe per rotated file.
        const from = this.resume && { time: this.resume.time, count: this.resume.left };
        this.files = from ? this.rotatedFrom(from.time, fd) : after;
        this.seekFrom = from;
        this.current = undefined;
        this.liveFd = fd;
        this.nextFile();
        return;
      }
      fs.closeSync(fd);
    }
    // The reader retries with backoff and says so once; the next attempt lists the files again.
    throw rotatingTooFast(this.logPath, 5);
  }

  private liveFd?: number;

  private nextFile(): void {
    this.fileSwitches++;
    if (this.current?.fd !== undefined && !this.current.live) fs.closeSync(this.current.fd);
    this.carry = Buffer.alloc(0);
    this.cutCheckLength = 0;
    const file = this.files.shift();
    const seekFrom = this.seekFrom;
    this.seekFrom = undefined;
    if (file === undefined) {
      const fd = this.liveFd!;
      const st = fs.fstatSync(fd);
      this.current = { fd, ino: st.ino, offset: seekFrom ? this.startOffset(fd, st.size, seekFrom, true) : 0, live: true };
      return;
    }
    const opened = this.openListed(file);
    if (!opened) {
      this.restart();
      return;
    }
    const { fd, st } = opened;
    if (opened.file.path.endsWith('.gz')) {
      try { this.current = { data: this.gunzipDamaged(fs.readFileSync(fd)), ino: st.ino, offset: 0, live: false }; } finally { fs.closeSync(fd); }
    } else {
      this.current = { fd, ino: st.ino, offset: seekFrom ? this.startOffset(fd, st.size, seekFrom, false) : 0, live: false };
    }
  }

  /**
   * Opens the rotated file listed as `file`, found again by its inode wherever rotations moved it since the listing
   * (the files after it listed again with it); undefined when it is gone (compressed into a new file, or removed at
   * max-file) or keeps moving. Opened by the listed name alone, a rotation in between gave that name to the next
   * newer file, and the listed one was skipped whole (1,285 lines in a CI run, reading behind a container that
   * rotated every ≈ 80 ms).
   */
  private openListed(file: RotatedFile): { file: RotatedFile; fd: number; st: fs.Stats } | undefined {
    for (let attempt = 0; attempt < MAX_NESTED_RESTARTS; attempt++) {
      try {
        const fd = fs.openSync(file.path, 'r');
        const st = fs.fstatSync(fd);
        if (st.ino === file.ino) return { file, fd, st };
        fs.closeSync(fd);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      const list = this.rotated();
      const idx = list.findIndex((f) => f.ino === file.ino);
      if (idx < 0) return undefined;
      file = list[idx]!;
      this.files = list.slice(idx + 1);
    }
    return undefined;
  }

  /**
   * A rotated file's content. One cut short (a power loss while the engine compressed it, a bad disk) gives what
   * inflates and counts as damaged: failing, the read would fail again at every retry and the container's log would
   * never be shipped past it.
   */
  private gunzipDamaged(raw: Buffer): Buffer {
    try {
      return zlib.gunzipSync(raw);
    } catch {
      this.damaged++;
      try {
        return zlib.gunzipSync(raw, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      } catch {
        return Buffer.alloc(0);
      }
    }
  }

  /** Whole lines of the last chunk not parsed yet, because the consumer asked to stop (its buffer is full). */
  private unparsed?: Buffer;

  /**
   * Whether an entry with this time is new: not one before the cursor's own entry (by time, until the read is past
   * that entry), not one a reread after a rotation or a cut skips.
   */
  private admit(time: EngineTime): boolean {
    const r = this.resume;
    if (r) {
      const c = compareTime(time, r.time);
      if (c < 0) return false;
      const atResumePoint = c === 0 && r.left > 0;
      if (!atResumePoint || --r.left === 0) this.resume = undefined;
      if (atResumePoint && !r.handOut) return false;
    }
    if (this.lastTime && compareTime(time, this.lastTime) === 0) this.lastCount++;
    else { this.lastTime = time; this.lastCount = 1; }
    return true;
  }

  /** Parses the whole lines of `b` (it ends with a newline); see readMore. */
  private parse(b: Buffer, emit: (e: FileEntry) => void, stop: (() => boolean) | undefined, raw: RawLineSink | undefined): void {
    // NUL bytes are what a power loss leaves (blocks of the file never written); the engine escapes every control
    // character, so a line holding one is damaged. One search of the chunk spares the search of each line.
    const mayHoldNul = b.indexOf(0) >= 0;
    let start = 0;
    while (start < b.length) {
      const nl = b.indexOf(10, start);
      if (nl === -1) return;
      if (stop?.()) {
        // Kept for the next call (the file offset is already past these lines) as a view, not a copy: `b` is the
        // read buffer or a buffer of its own, and the read buffer is not read into again before these are parsed.
        // With 50 readers taking turns at a full delivery buffer, a copy of the chunk's rest per turn was 13 % of
        // the shipper's CPU and most of its garbage.
        this.unparsed = b.subarray(start);
        return;
      }
      const s = start;
      start = nl + 1;
      if (nl === s) continue;
      if ((!mayHoldNul || !holdsNul(b, s, nl)) && plainLineLayout(b, s, nl)) {
        const time = parseEngineTimeAt(b, layout.timeStart, layout.timeEnd);
        if (!time) { this.damaged++; continue; }
        // A glued line spans the engine's restart, so its time is in another second than the line before it:
        // checked only then, the lines of a burst cost nothing (a scan of every text cost up to 90 % more parse
        // time for structured log lines, full of escaped quotes).
        if (time.sec !== this.lineSec) {
          this.lineSec = time.sec;
          if (holdsUnescapedQuote(b, layout.textStart, layout.textEnd + 2)) { this.salvage(b, s, nl, emit, raw); continue; }
        }
        if (!this.admit(time)) continue;
        if (raw) raw(b, layout.textStart, layout.textEnd, layout.stream, time);
        else emit({ stream: layout.stream, time, text: decodeEscapedText(b, layout.textStart, layout.textEnd), partial: false });
        continue;
      }
      const entry = parseJsonFileLine(b.toString('utf8', s, nl));
      if (!entry) { this.salvage(b, s, nl, emit, raw); continue; }
      if (!this.admit(entry.time)) continue;
      emit(entry);
    }
  }

  /**
   * Stretches of the log that were no entry (counted, then reset by the reader): NUL bytes where a power loss left
   * the end of the file unwritten (docker/for-linux#140), a write cut by a crash, a compressed rotated file cut short.
   */
  damaged = 0;

  /** The second of the last line parsed: see holdsUnescapedQuote. */
  private lineSec = -1;

  /**
   * A line `b[s, e)` that is no entry: a damaged stretch has no newline of its own, so it is glued to the entry the
   * engine appended after it. That entry begins at the next `{"log":"` (inside an entry's text every quote is
   * escaped, so the sequence cannot occur there) and is parsed on its own.
   */
  private salvage(b: Buffer, s: number, e: number, emit: (e: FileEntry) => void, raw: RawLineSink | undefined): void {
    this.damaged++;
    const next = b.indexOf(LOG_KEY_BYTES, s + 1);
    if (next >= 0 && next < e) this.parse(b.subarray(next, e + 1), emit, undefined, raw);
  }

  /**
   * Reads one chunk; returns false when the live file has nothing more right now. `stop` is asked before each
   * entry: once it says so, the rest of the chunk waits for the next call, so a paused consumer is overshot by at
   * most one entry, not by a chunk per container (≈ 900 messages each at 128 KiB). With `raw`, complete lines of
   * the usual layout go there with their text still escaped; every other entry goes to `emit`.
   */
  readMore(emit: (e: FileEntry) => void, stop?: () => boolean, raw?: RawLineSink): boolean {
    try {
      return this.readChunk(emit, stop, raw);
    } finally {
      this.giveBackBuffer();
    }
  }

  private readChunk(emit: (e: FileEntry) => void, stop: (() => boolean) | undefined, raw: RawLineSink | undefined): boolean {
    if (this.unparsed) {
      const rest = this.unparsed;
      this.unparsed = undefined;
      this.parse(rest, emit, stop, raw);
      return true;
    }
    const f = this.current;
    if (!f) return false;
    if (f.live) {
      const at = performance.now(); // monotonic: a clock stepped back must not put the check off
      if (at - this.lastReadAt >= CUT_CHECK_AFTER_MS && this.wasCut(f)) { this.lastReadAt = at; this.readAfterCut(); return true; }
      this.lastReadAt = at;
    }
    let n: number;
    let chunk: Buffer;
    const kept = this.carry.length;
    if (f.data) {
      chunk = f.data.subarray(f.offset, f.offset + CHUNK);
      n = chunk.length;
      if (n > 0 && kept > 0) chunk = Buffer.concat([this.carry, chunk]);
    } else if (kept <= CHUNK / 2) {
      // The line cut by the last chunk's end goes first and the file is read in after it: one buffer, no concat
      // of the whole chunk per read.
      const buf = this.takeBuffer();
      this.carry.copy(buf, 0);
      n = fs.readSync(f.fd!, buf, kept, CHUNK - kept, f.offset);
      chunk = buf.subarray(0, kept + n);
    } else {
      const buf = this.takeBuffer();
      n = fs.readSync(f.fd!, buf, 0, CHUNK, f.offset);
      chunk = n > 0 ? Buffer.concat([this.carry, buf.subarray(0, n)]) : this.carry;
    }
    if (n > 0) {
      f.offset += n;
      if (!f.data) this.bytesRead += n;
      if (f.live) {
        const tail = Math.min(CUT_CHECK_BYTES, chunk.length);
        chunk.copy(this.cutCheck, 0, chunk.length - tail);
        this.cutCheckLength = tail;
      }
      // Only whole lines are parsed; a line cut by the chunk boundary waits for the next read.
      const lastNl = chunk.lastIndexOf(10);
      if (lastNl < 0) {
        this.carry = Buffer.from(chunk);
        return true;
      }
      this.carry = Buffer.from(chunk.subarray(lastNl + 1));
      this.parse(chunk.subarray(0, lastNl + 1), emit, stop, raw);
      return true;
    }
    if (!f.live) {
      this.afterFile(f.ino);
      return true;
    }
    let st: fs.Stats;
    try {
      st = fs.statSync(this.logPath);
    } catch {
      return false;
    }
    if (st.ino !== f.ino && !f.sawRotation) {
      // The engine may have written to this file between our last read and the rename: read it to its end once more.
      f.sawRotation = true;
      return true;
    }
    if (st.ino !== f.ino) {
      // Rotated, possibly more than once since our last look: continue after our file, wherever it is now.
      this.afterFile(f.ino);
      return true;
    }
    if (st.size < f.offset) {
      this.readAfterCut();
      return true;
    }
    return false;
  }

  /** The read buffer, taken from the spare ones (or new) if this source holds none. */
  private takeBuffer(): Buffer {
    return (this.buf ??= spareReadBuffers.pop() ?? Buffer.allocUnsafe(CHUNK));
  }

  /**
   * Returns the read buffer once nothing points into it (after every readMore, and at close): parse copies or
   * decodes every line it hands out (the arena, strings) and the carry is a copy; only lines left unparsed are a
   * view of it.
   */
  private giveBackBuffer(): void {
    const buf = this.buf;
    if (!buf || this.unparsed) return;
    this.buf = undefined;
    if (spareReadBuffers.length < MAX_SPARE_READ_BUFFERS) spareReadBuffers.push(buf);
  }

  /**
   * Bytes of the log not handed out yet: the rest of the file being read (and of the live file, while an older one
   * is), what waits unparsed and a line cut by the last chunk. What a removed container's reader would lose if it
   * stopped now.
   */
  unreadBytes(): number {
    const f = this.current;
    let rest = (this.unparsed?.length ?? 0) + this.carry.length;
    if (f) rest += Math.max(0, (f.data ? f.data.length : fs.fstatSync(f.fd!).size) - f.offset);
    if (this.liveFd !== undefined && this.liveFd !== f?.fd) rest += fs.fstatSync(this.liveFd).size;
    return rest;
  }

  /**
   * The log, in the engine's format, from where a read resumed at `since` begins (startOffset) to its end, as the
   * pieces copyLogParts copies: for a removed container, whose files the engine unlinked, what the open descriptors
   * hold is all that is left of its log. The file being read first when it is an older one (the read is behind),
   * then the live file, each through a descriptor of the copy's own (reopenDescriptor).
   */
  logParts(since: Cursor | undefined): LogPart[] {
    const f = this.current;
    const parts: LogPart[] = [];
    const fromTime = (fd: number, live: boolean) => (since ? this.startOffset(fd, fs.fstatSync(fd).size, since, live) : 0);
    try {
      if (f && !f.live) parts.push(f.data ? { data: f.data } : { fd: reopenDescriptor(f.fd!), from: fromTime(f.fd!, false) });
      if (this.liveFd !== undefined) parts.push({ fd: reopenDescriptor(this.liveFd), from: f && !f.live ? 0 : fromTime(this.liveFd, true) });
    } catch (err) {
      for (const part of parts) if ('fd' in part) fs.closeSync(part.fd);
      throw err;
    }
    return parts;
  }

  close(): void {
    if (this.opened !== undefined) fs.closeSync(this.opened);
    this.opened = undefined;
    this.unparsed = undefined;
    this.giveBackBuffer();
    if (this.current?.fd !== undefined) fs.closeSync(this.current.fd);
    if (this.liveFd !== undefined && this.liveFd !== this.current?.fd) fs.closeSync(this.liveFd);
    this.current = undefined;
    this.liveFd = undefined;
  }
}
