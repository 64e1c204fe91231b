import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { cursorFromJson, cursorToJson, type Cursor } from './cursor.js';

export const SW_ERR_SHIPPER_CURSOR_WRITE = 'SW_ERR_SHIPPER_CURSOR_WRITE';
export const SW_ERR_SHIPPER_CURSOR_READ = 'SW_ERR_SHIPPER_CURSOR_READ';

export interface CursorEntry {
  cursor: Cursor;
  /** Container name when last seen, for operators reading the file. */
  name: string;
  /** Unix ms when the container was seen removed; the entry expires after shipper.cursor-expiry. */
  removedAt?: number;
}

interface FileShape {
  version: 1 | 2;
  /** Commit sequence (version 2): the newest of the snapshot and the two slots is current. */
  seq?: number;
  containers: Record<string, { ts: string; n: number; name: string; removedAt?: number }>;
}

/** A cursor state serialized ahead of a send, waiting for delivery to make it current; dropped if it never is. */
export interface PreparedCursors {
  /**
   * Makes it current with one small write (see CursorStore): synchronous, right after the kernel took the data.
   * Never throws: a failed write goes to the store's `onWriteError` and delivery goes on (stalling every
   * container's logs on a bad disk would be worse than lines repeated after a restart).
   */
  commit(): void;
}

const SLOT_MAGIC = 'swarmwatch-cursors';
/** The durable, human-readable snapshot is rewritten at most this often (and at stop). */
const SNAPSHOT_INTERVAL_MS = 1000;

/**
 * Per-container cursors. A commit is one write at offset 0 of one of two slot files (`cursors-a`, `cursors-b`,
 * never the one holding the newest commit), each a header `swarmwatch-cursors 2 <seq> <length> <crc32>` and the
 * JSON state: ≈ 2 µs here, where the temp file + rename it replaced took ≈ 165 µs, and that time after a write syscall is the window in which a kill -9
 * repeats what the kernel already holds. A kill during a slot write can tear only that slot (its checksum fails);
 * the other holds the previous commit. `cursors.json` is a snapshot of the newest state, written as temp file +
 * fsync + rename at most once a second and at stop (durable across a power loss; an operator can read it). Every
 * write error (slot, snapshot, stop) goes to `onWriteError`; none is thrown. At load the valid state with the highest sequence wins; a version-1
 * `cursors.json` of an older swarmwatch is read as sequence 0.
 */
export class CursorStore {
  readonly file: string;
  private readonly slotFiles: [string, string];
  private slotFds: [number | undefined, number | undefined] = [undefined, undefined];
  private seq = 0;
  private lastSlot?: 0 | 1;
  private tmpSeq = 0;
  /** The newest committed state, not yet in the snapshot. */
  private unsnapshotted?: { seq: number; text: string };
  private snapshotTimer?: NodeJS.Timeout;
  /** The snapshot being written in the background, if one is. */
  private snapshotInFlight?: Promise<void>;

  constructor(readonly dir: string, private readonly onWriteError: (err: Error) => void = () => undefined) {
    this.file = path.join(dir, 'cursors.json');
    this.slotFiles = [path.join(dir, 'cursors-a'), path.join(dir, 'cursors-b')];
  }

  /**
   * Reads the newest valid state; `fresh` is true when there was none (the shipper's first start on this node).
   * Throws when files exist but none holds a valid state.
   */
  load(): { entries: Map<string, CursorEntry>; fresh: boolean } {
    const candidates: { seq: number; shape: FileShape; slot?: 0 | 1 }[] = [];
    let found = false;
    let firstError: unknown;
    for (const [file, parse, slot] of [[this.file, parseSnapshot, undefined], [this.slotFiles[0], parseSlot, 0], [this.slotFiles[1], parseSlot, 1]] as const) {
      let bytes: Buffer;
      try {
        bytes = fs.readFileSync(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      found = true;
      try {
        const shape = parse(bytes);
        if (shape) candidates.push({ seq: shape.seq ?? 0, shape, slot });
        else firstError ??= new Error(`${path.basename(file)}: checksum or header does not match (a write cut by a crash)`);
      } catch (err) {
        firstError ??= new Error(`${path.basename(file)}: ${(err as Error).message}`);
      }
    }
    // Leftover temp files of a killed process are never current: remove them. This process has written none yet,
    // and in a container it is PID 1 on every run, so a file's PID tells nothing.
    for (const f of fs.readdirSync(this.dir)) {
      if (f.startsWith('cursors.json.tmp-')) fs.rmSync(path.join(this.dir, f), { force: true });
    }
    const entries = new Map<string, CursorEntry>();
    if (!found) return { entries, fresh: true };
    if (candidates.length === 0) throw firstError;
    candidates.sort((a, b) => b.seq - a.seq);
    const newest = candidates[0]!;
    this.seq = newest.seq;
    // The next commit must not overwrite the newest valid slot.
    this.lastSlot = candidates.find((c) => c.slot !== undefined)?.slot;
    for (const [id, v] of Object.entries(newest.shape.containers ?? {})) {
      const cursor = cursorFromJson(v);
      if (cursor) entries.set(id, { cursor, name: v.name ?? '', removedAt: v.removedAt });
    }
    return { entries, fresh: false };
  }

  /** The state as JSON; its sequence is given at commit, in the slot's header (commits may come out of order). */
  private serialize(entries: ReadonlyMap<string, CursorEntry>): string {
    // A commit follows every batch, and a batch moves few of the entries: each entry's JSON is kept until its
    // cursor, name or removal changes (with 50 containers, serializing all of them was a third of the sender's CPU).
    let text = `${STATE_PREFIX}"containers":{`;
    let first = true;
    for (const [id, e] of entries) {
      let f = this.fragments.get(e);
      if (!f || f.cursor !== e.cursor || f.name !== e.name || f.removedAt !== e.removedAt) {
        const value: FileShape['containers'][string] = { ...cursorToJson(e.cursor), name: e.name, ...(e.removedAt ? { removedAt: e.removedAt } : {}) };
        f = { cursor: e.cursor, name: e.name, removedAt: e.removedAt, json: `${JSON.stringify(id)}:${JSON.stringify(value)}` };
        this.fragments.set(e, f);
      }
      text += first ? f.json : `,${f.json}`;
      first = false;
    }
    return `${text}}}`;
  }

  /** Each entry's serialized form, with what it was made from (entries are replaced when they move, but removedAt is set in place). */
  private readonly fragments = new WeakMap<CursorEntry, { cursor: CursorEntry['cursor']; name: string; removedAt: number | undefined; json: string }>();

  /** The state serialized now, ahead of the send (no I/O): its commit is one slot write. */
  prepare(entries: ReadonlyMap<string, CursorEntry>): PreparedCursors {
    const text = this.serialize(entries);
    const json = Buffer.from(text);
    const check = `${json.length} ${crc32(json).toString(16)}`;
    let done = false;
    return {
      commit: () => {
        if (done) return;
        done = true;
        this.writeSlot(json, check, text);
      },
    };
  }

  /** Into the slot that does not hold the newest commit, so a torn write leaves exactly the previous one. */
  private writeSlot(json: Buffer, check: string, text: string): void {
    const seq = ++this.seq;
    const slot = this.lastSlot === 0 ? 1 : 0;
    try {
      let fd = this.slotFds[slot];
      if (fd === undefined) {
        fd = fs.openSync(this.slotFiles[slot], fs.constants.O_WRONLY | fs.constants.O_CREAT, 0o644);
        this.slotFds[slot] = fd;
      }
      // One syscall; bytes after `length` (a longer earlier state) are ignored by the reader, so no truncate.
      const header = Buffer.from(`${SLOT_MAGIC} 2 ${seq} ${check}\n`);
      const written = fs.writevSync(fd, [header, json], 0);
      if (written !== header.length + json.length) throw Object.assign(new Error(`short write to ${this.slotFiles[slot]} (${written} of ${header.length + json.length} bytes)`), { code: 'ENOSPC' });
      // Only a slot that holds this state whole becomes the one the next commit must spare.
      this.lastSlot = slot;
    } catch (err) {
      // The snapshot below may still make this state durable.
      this.onWriteError(err as Error);
    }
    this.unsnapshotted = { seq, text };
    this.snapshotSoon();
  }

  /** Commits durably, now (at stop): the slot is fsynced and the snapshot written. */
  writeNow(entries: ReadonlyMap<string, CursorEntry>): void {
    this.prepare(entries).commit();
    try {
      for (const fd of this.slotFds) if (fd !== undefined) fs.fsyncSync(fd);
      this.writeSnapshotNow();
    } catch (err) {
      this.onWriteError(err as Error);
    }
  }

  private snapshotSoon(): void {
    if (this.snapshotTimer) return;
    this.snapshotTimer = setTimeout(() => {
      this.snapshotTimer = undefined;
      // One still being written (a slow disk) schedules the next when it ends; replacing it here let idle() miss it.
      if (this.snapshotInFlight) return;
      this.snapshotInFlight = this.writeSnapshot().finally(() => { this.snapshotInFlight = undefined; });
    }, SNAPSHOT_INTERVAL_MS);
    this.snapshotTimer.unref();
  }

  /** Temp file + fsync + rename of the newest state, off the send path; a failure is reported, the slots stay. */
  private async writeSnapshot(): Promise<void> {
    const state = this.unsnapshotted;
    if (state === undefined) return;
    const text = snapshotText(state);
    this.unsnapshotted = undefined;
    const tmp = `${this.file}.tmp-${process.pid}-${++this.tmpSeq}`;
    try {
      const fh = await fs.promises.open(tmp, 'w', 0o644);
      try {
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.promises.rename(tmp, this.file);
      await syncDirectory(this.dir);
    } catch (err) {
      // A full disk fails here once a second: leave no temp file behind, keep the state for the next attempt.
      await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
      this.unsnapshotted ??= state;
      this.onWriteError(err as Error);
    }
    if (this.unsnapshotted !== undefined) this.snapshotSoon();
  }

  private writeSnapshotNow(): void {
    const state = this.unsnapshotted;
    if (state === undefined) return;
    const text = snapshotText(state);
    clearTimeout(this.snapshotTimer);
    this.snapshotTimer = undefined;
    const tmp = `${this.file}.tmp-${process.pid}-${++this.tmpSeq}`;
    try {
      fs.writeFileSync(tmp, text, { mode: 0o644, flush: true });
      fs.renameSync(tmp, this.file);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    this.unsnapshotted = undefined;
    try {
      const fd = fs.openSync(this.dir, 'r');
      try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
    } catch {
      // Directory fsync is unsupported on some filesystems; the rename is still atomic.
    }
  }

  /**
   * Resolves once no snapshot is being written in the background, with none scheduled: stop awaits it before
   * writeNow, or an older snapshot still on its way renamed over the final one after the process had reported
   * itself stopped (load picks the newest sequence anyway, but the operator reads cursors.json).
   */
  async idle(): Promise<void> {
    clearTimeout(this.snapshotTimer);
    this.snapshotTimer = undefined;
    while (this.snapshotInFlight) {
      await this.snapshotInFlight;
      clearTimeout(this.snapshotTimer);
      this.snapshotTimer = undefined;
    }
  }

  /** Closes the slot files (after the stop's durable write). */
  close(): void {
    clearTimeout(this.snapshotTimer);
    this.snapshotTimer = undefined;
    for (const fd of this.slotFds) if (fd !== undefined) fs.closeSync(fd);
    this.slotFds = [undefined, undefined];
  }
}

async function syncDirectory(dir: string): Promise<void> {
  try {
    const fh = await fs.promises.open(dir, 'r');
    try { await fh.sync(); } finally { await fh.close(); }
  } catch {
    // Directory fsync is unsupported on some filesystems; the rename is still atomic.
  }
}

/** The snapshot carries the sequence of the commit it copies, so load can tell it from newer slots. */
function snapshotText(state: { seq: number; text: string }): string {
  return `${STATE_PREFIX}"seq":${state.seq},${state.text.slice(STATE_PREFIX.length)}`;
}

/** How serialize() begins every state, and where snapshotText puts the sequence. */
const STATE_PREFIX = '{"version":2,';

function parseSnapshot(bytes: Buffer): FileShape {
  return JSON.parse(bytes.toString('utf8')) as FileShape;
}

/** A slot's state, or undefined when its header or checksum does not match (torn by a crash, or never written). */
function parseSlot(bytes: Buffer): FileShape | undefined {
  const nl = bytes.indexOf(10);
  if (nl < 0) return undefined;
  const [magic, version, seqText, lengthText, crcText] = bytes.toString('latin1', 0, nl).split(' ');
  const seq = Number(seqText);
  if (!Number.isSafeInteger(seq)) return undefined;
  if (magic !== SLOT_MAGIC || version !== '2') return undefined;
  const length = Number(lengthText);
  if (!Number.isInteger(length) || nl + 1 + length > bytes.length) return undefined;
  const json = bytes.subarray(nl + 1, nl + 1 + length);
  if (crc32(json).toString(16) !== crcText) return undefined;
  const shape = JSON.parse(json.toString('utf8')) as FileShape;
  shape.seq = seq;
  return shape;
}
