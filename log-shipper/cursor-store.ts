import * as fs from 'node:fs';
import * as path from 'node:path';
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
  version: 1;
  containers: Record<string, { ts: string; n: number; name: string; removedAt?: number }>;
}

/** A cursor file written and fsynced under a temporary name, waiting for delivery to make it current. */
export interface PreparedCursors {
  /** Renames the temp file over the current one: synchronous, so a kill cannot land between delivery and commit. */
  commit(): void;
  discard(): void;
}

/**
 * Per-container cursors in one JSON file. Written as temp file + fsync + rename so a crash leaves either the old
 * or the new file, never a torn one. The expensive part (write + fsync) happens before a batch is sent; only the
 * rename happens after delivery, which keeps the window in which a kill -9 can duplicate a batch to microseconds.
 */
export class CursorStore {
  readonly file: string;
  private seq = 0;
  private dirSyncPending = false;

  constructor(readonly dir: string) {
    this.file = path.join(dir, 'cursors.json');
  }

  /** Reads the file; `fresh` is true when there was none (the shipper's first start on this node). */
  load(): { entries: Map<string, CursorEntry>; fresh: boolean } {
    const entries = new Map<string, CursorEntry>();
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries, fresh: true };
      throw err;
    }
    const parsed = JSON.parse(text) as FileShape;
    for (const [id, v] of Object.entries(parsed.containers ?? {})) {
      const cursor = cursorFromJson(v);
      if (cursor) entries.set(id, { cursor, name: v.name ?? '', removedAt: v.removedAt });
    }
    // Leftover temp files of a killed process are never current: remove them.
    for (const f of fs.readdirSync(this.dir)) {
      if (f.startsWith('cursors.json.tmp-') && !f.startsWith(`cursors.json.tmp-${process.pid}-`)) fs.rmSync(path.join(this.dir, f), { force: true });
    }
    return { entries, fresh: false };
  }

  private serialize(entries: ReadonlyMap<string, CursorEntry>): string {
    const out: FileShape = { version: 1, containers: {} };
    for (const [id, e] of entries) out.containers[id] = { ...cursorToJson(e.cursor), name: e.name, ...(e.removedAt ? { removedAt: e.removedAt } : {}) };
    return JSON.stringify(out);
  }

  async prepare(entries: ReadonlyMap<string, CursorEntry>): Promise<PreparedCursors> {
    const tmp = `${this.file}.tmp-${process.pid}-${++this.seq}`;
    const fh = await fs.promises.open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(this.serialize(entries));
      await fh.sync();
    } catch (err) {
      // A full disk fails here twice a second: leave no empty temp file per attempt behind.
      await fh.close().catch(() => undefined);
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    await fh.close();
    return this.preparedAt(tmp);
  }

  /**
   * Synchronously, not durable (no fsync): the cursor file for a part of a batch, written before that part goes
   * out, so that once the kernel holds it only a rename is left (≈ 0.2 ms of writing moved out of the window
   * in which a kill -9 repeats what the kernel already holds).
   */
  prepareNow(entries: ReadonlyMap<string, CursorEntry>): PreparedCursors {
    return this.preparedAt(this.writeTemp(entries, false));
  }

  /** The entries in a new temp file (fsynced if `durable`); nothing is left behind when writing fails. */
  private writeTemp(entries: ReadonlyMap<string, CursorEntry>, durable: boolean): string {
    const tmp = `${this.file}.tmp-${process.pid}-${++this.seq}`;
    const fd = fs.openSync(tmp, 'w', 0o644);
    try {
      fs.writeSync(fd, this.serialize(entries));
      if (durable) fs.fsyncSync(fd);
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    fs.closeSync(fd);
    return tmp;
  }

  private preparedAt(tmp: string): PreparedCursors {
    let done = false;
    return {
      commit: () => {
        if (done) return;
        done = true;
        fs.renameSync(tmp, this.file);
        this.syncDirSoon();
      },
      discard: () => {
        if (done) return;
        done = true;
        fs.rmSync(tmp, { force: true });
      },
    };
  }

  /**
   * Writes synchronously: at stop, for bookkeeping changes that deliver nothing, and (not durable: no fsync, which
   * a kill -9 does not need) for the part of a batch the kernel took whole.
   */
  writeNow(entries: ReadonlyMap<string, CursorEntry>, opts: { durable: boolean } = { durable: true }): void {
    const tmp = this.writeTemp(entries, opts.durable);
    fs.renameSync(tmp, this.file);
    if (opts.durable) this.syncDir();
    else this.syncDirSoon();
  }

  /** The rename itself is durable only once the directory is synced; one sync serves a burst of commits. */
  private syncDirSoon(): void {
    if (this.dirSyncPending) return;
    this.dirSyncPending = true;
    setTimeout(() => {
      this.dirSyncPending = false;
      fs.open(this.dir, 'r', (err, fd) => {
        if (err) return;
        fs.fsync(fd, () => fs.close(fd, () => undefined));
      });
    }, 50).unref();
  }

  private syncDir(): void {
    try {
      const fd = fs.openSync(this.dir, 'r');
      try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
    } catch {
      // Directory fsync is unsupported on some filesystems; the rename is still atomic.
    }
  }
}
