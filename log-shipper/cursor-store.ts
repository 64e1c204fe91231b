import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { removeLeftoverTempFiles, replaceFile, replaceFileSync } from '../core/fs/atomic-file.js';
import { cursorFromJson, type Cursor } from './cursor.js';
import { formatUnixNano } from './timestamp.js';

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
  /** Sequence of the last commit the snapshot holds (version 2). */
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
  /**
   * Records, right before a write, that the next write carries `lines` lines up to this state: if the process dies
   * before the commit, the next start knows those lines are sent again and the destination may already have some
   * of them (CursorStore.load's `inFlight`). One small journal write; never throws.
   */
  announce(lines: number): void;
}

/** The write a process that died was making: its lines are sent again, and the destination may have some already. */
export interface InFlightWrite {
  lines: number;
  /** The containers it carried lines of, with the cursor each would have reached. */
  containers: { id: string; name: string; to: Cursor }[];
}

const RECORD_MAGIC = 'swarmwatch-cursors';
/** A commit that changes nothing: it ends an announcement (withdraw). */
const EMPTY_COMMIT = Buffer.from('{"version":3,"containers":{}}');
const EMPTY_COMMIT_CHECK = recordCheck(EMPTY_COMMIT);
/** The durable, human-readable snapshot is rewritten at most this often (and at stop). */
const SNAPSHOT_INTERVAL_MS = 1000;

/** A container's committed cursor as the store last wrote it, with its JSON kept for the snapshots. */
interface CommittedEntry {
  cursor: Cursor;
  name: string;
  removedAt: number | undefined;
  json?: string;
}

/**
 * Per-container cursors. A commit appends one record to a journal (`cursors-a` or `cursors-b`): a header
 * `swarmwatch-cursors 3 <seq> <length> <crc32>` and the JSON of the containers whose cursor moved (or that went
 * away): one small write whose size does not grow with the number of containers. (Before, every commit wrote the
 * whole state: with 200 containers printing a line a second each, serializing and writing 30 KB per line was a
 * third of the shipper's CPU.) It follows the write syscall that delivered the lines at once: the time between
 * the two is the window in which a kill -9 repeats what the kernel already holds.
 *
 * `cursors.json` is a snapshot of the whole committed state with the sequence of its last commit, written as temp
 * file + fsync + rename at most once a second and at stop (durable across a power loss; an operator can read it).
 * Each snapshot switches commits to the other journal, written again from its start: what it held is older than
 * the previous snapshot, which is on disk by then. At load: the newest full state (the snapshot, or a whole-state
 * record of the version before journals, `swarmwatch-cursors 2`), then every journal record with a higher
 * sequence, in order. A record cut by a crash fails its checksum and ends its journal there. Every write error
 * (journal, snapshot, stop) goes to `onWriteError`; none is thrown. A version-1 `cursors.json` of an older
 * swarmwatch is sequence 0.
 */
export class CursorStore {
  readonly file: string;
  private readonly journalFiles: [string, string];
  private journalFds: [number | undefined, number | undefined] = [undefined, undefined];
  /** Where the next record of each journal goes. */
  private journalEnds: [number, number] = [0, 0];
  private active: 0 | 1 = 0;
  private seq = 0;
  /** The state the journal and snapshot hold: prepare() writes only what differs from it. */
  private readonly committed = new Map<string, CommittedEntry>();
  /** The inactive journal holds only records older than a snapshot on disk: the next snapshot may write over it. */
  private inactiveCovered = false;
  /** The newest journal record announces a write (PreparedCursors.announce) that no commit followed yet. */
  private newestIsIntent = false;
  /** A commit is not in the snapshot yet. */
  private snapshotDue = false;
  private snapshotTimer?: NodeJS.Timeout;
  /** The snapshot being written in the background, if one is. */
  private snapshotInFlight?: Promise<void>;

  constructor(readonly dir: string, private readonly onWriteError: (err: Error) => void = () => undefined) {
    this.file = path.join(dir, 'cursors.json');
    this.journalFiles = [path.join(dir, 'cursors-a'), path.join(dir, 'cursors-b')];
  }

  /**
   * Reads the newest valid state; `fresh` is true when there was none (the shipper's first start on this node).
   * Throws when files exist but none holds a valid state.
   */
  load(): { entries: Map<string, CursorEntry>; fresh: boolean; inFlight?: InFlightWrite } {
    let found = false;
    let firstError: unknown;
    let base: { seq: number; containers: Record<string, EntryJson | null> } | undefined;
    const deltas: JournalRecord[] = [];
    let snapshot: Buffer | undefined;
    try {
      snapshot = fs.readFileSync(this.file);
      found = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (snapshot) {
      try {
        const shape = parseSnapshot(snapshot);
        base = { seq: shape.seq ?? 0, containers: shape.containers ?? {} };
      } catch (err) {
        firstError = new Error(`${path.basename(this.file)}: ${(err as Error).message}`);
      }
    }
    let newestSeq = -1;
    let newest: JournalRecord | undefined;
    for (const j of [0, 1] as const) {
      let bytes: Buffer;
      try {
        bytes = fs.readFileSync(this.journalFiles[j]);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      found = true;
      const { records, end, error } = parseJournal(bytes);
      this.journalEnds[j] = end;
      if (error && records.length === 0) firstError ??= new Error(`${path.basename(this.journalFiles[j])}: ${error}`);
      for (const r of records) {
        if (r.full) { if (!base || r.seq > base.seq) base = { seq: r.seq, containers: r.shape.containers }; } else if (!r.sending) deltas.push(r);
        if (r.seq > newestSeq) { newestSeq = r.seq; newest = r; this.active = j; }
      }
    }
    // Leftover temp files of a killed process are never current. This process has written none yet, and in a
    // container it is PID 1 on every run, so a file's PID tells nothing.
    removeLeftoverTempFiles(this.file);
    const entries = new Map<string, CursorEntry>();
    // Journal records hold only what each commit changed: without a whole state under them they are no state.
    if (!base && firstError) throw firstError;
    // Nothing committed yet (no file, or a journal created and never written): the first start on this node. Not
    // after a first write announced and never committed: a shipper ran here, and those lines go out again.
    if (!found || (!base && deltas.length === 0 && !newest?.sending)) return { entries, fresh: true };
    const baseSeq = base?.seq ?? 0;
    const state = new Map(Object.entries(base?.containers ?? {}));
    deltas.sort((a, b) => a.seq - b.seq);
    for (const r of deltas) {
      if (r.seq <= baseSeq) continue;
      for (const [id, v] of Object.entries(r.shape.containers)) {
        if (v === null) state.delete(id);
        else state.set(id, v);
      }
    }
    this.seq = Math.max(baseSeq, newestSeq, 0);
    for (const [id, v] of state) {
      if (v === null) continue;
      const cursor = cursorFromJson(v);
      if (!cursor) continue;
      entries.set(id, { cursor, name: v.name ?? '', removedAt: v.removedAt });
      this.committed.set(id, { cursor, name: v.name ?? '', removedAt: v.removedAt });
    }
    // The newest record announces a write no commit followed: the process died with it in flight.
    this.newestIsIntent = newest?.sending !== undefined;
    return newest?.sending ? { entries, fresh: false, inFlight: inFlightOf(newest.sending) } : { entries, fresh: false };
  }

  /** The JSON of what `entries` changes in the committed state (null for a container gone from it), or undefined. */
  private delta(entries: ReadonlyMap<string, CursorEntry>): { text: string; changes: [string, CommittedEntry | null][] } | undefined {
    const changes: [string, CommittedEntry | null][] = [];
    let added = 0;
    for (const [id, e] of entries) {
      const c = this.committed.get(id);
      if (c && c.cursor === e.cursor && c.name === e.name && c.removedAt === e.removedAt) continue;
      if (!c) added++;
      changes.push([id, { cursor: e.cursor, name: e.name, removedAt: e.removedAt }]);
    }
    // Fewer entries than the committed ones plus the new ones: some went away (expired).
    if (this.committed.size + added > entries.size) {
      for (const id of this.committed.keys()) if (!entries.has(id)) changes.push([id, null]);
    }
    if (changes.length === 0) return undefined;
    let text = '';
    for (let i = 0; i < changes.length; i++) {
      const [id, c] = changes[i]!;
      text += `${i === 0 ? '' : ','}${c ? entryJson(id, c) : `${JSON.stringify(id)}:null`}`;
    }
    return { text, changes };
  }

  /** The state's changes serialized now, ahead of the send (no I/O): its commit is one journal write. */
  prepare(entries: ReadonlyMap<string, CursorEntry>): PreparedCursors {
    const d = this.delta(entries);
    if (!d) return { commit: () => undefined, announce: () => undefined };
    const json = Buffer.from(`{"version":3,"containers":{${d.text}}}`);
    const check = recordCheck(json);
    let done = false;
    return {
      commit: () => {
        if (done) return;
        done = true;
        this.append(json, check, d.changes);
      },
      announce: (lines: number) => {
        if (done) return;
        // No containers: a build before these records applies it as a commit that changes nothing.
        const intent = Buffer.from(`{"version":3,"containers":{},"sending":{"lines":${lines},"to":{${d.text}}}}`);
        this.append(intent, recordCheck(intent), [], true);
      },
    };
  }

  /**
   * Takes back the newest announcement, if no commit followed it: the write failed (the kernel took none of it), or
   * the process stops cleanly; otherwise the next start would warn of lines that were never written.
   */
  withdraw(): void {
    if (this.newestIsIntent) this.append(EMPTY_COMMIT, EMPTY_COMMIT_CHECK, []);
  }

  /** Appends a record to the active journal and makes its changes the committed state. */
  private append(json: Buffer, check: string, changes: readonly [string, CommittedEntry | null][], intent = false): void {
    this.newestIsIntent = intent;
    const seq = ++this.seq;
    const j = this.active;
    try {
      let fd = this.journalFds[j];
      if (fd === undefined) {
        fd = fs.openSync(this.journalFiles[j], fs.constants.O_WRONLY | fs.constants.O_CREAT, 0o644);
        this.journalFds[j] = fd;
      }
      // One syscall, at the end of the last whole record (a record cut by a crash before this run is overwritten).
      const header = Buffer.from(`${RECORD_MAGIC} 3 ${seq} ${check}\n`);
      const written = fs.writevSync(fd, [header, json], this.journalEnds[j]);
      // A record written in part is written over by the next one: left in place, it would end the journal there.
      if (written === header.length + json.length) this.journalEnds[j] += written;
      else throw Object.assign(new Error(`short write to ${this.journalFiles[j]} (${written} of ${header.length + json.length} bytes)`), { code: 'ENOSPC' });
    } catch (err) {
      // The snapshot below may still make this state durable.
      this.onWriteError(err as Error);
    }
    for (const [id, c] of changes) {
      if (c) this.committed.set(id, c);
      else this.committed.delete(id);
    }
    // Announcements too: a receiver that never reads makes one announced and taken back per poll of the full
    // socket, and only a snapshot lets the journals be written again from their start (so they stay small).
    this.snapshotDue = true;
    this.snapshotSoon();
  }

  /** The whole committed state as JSON, with the sequence of its last commit. */
  private snapshotText(seq: number): string {
    let text = `{"version":2,"seq":${seq},"containers":{`;
    let first = true;
    for (const [id, c] of this.committed) {
      // Kept with the entry: an unchanged container costs its share of the snapshot once, not once a second.
      c.json ??= entryJson(id, c);
      text += first ? c.json : `,${c.json}`;
      first = false;
    }
    return `${text}}}`;
  }

  /**
   * Moves commits to the other journal, written again from its start, when what it holds is older than a snapshot
   * already on disk; called as a snapshot of the current state starts. The file is not truncated: records past the
   * new ones are older than that snapshot, and load stops where the sequence stops rising. Truncated and grown again
   * every second, seven 50-container throughput runs had a median 19 % below the build before journals (78k against
   * 96k lines/s, same shipper CPU); written over in place, four runs measured 89k against 83k. Likely why: every
   * size change goes through the filesystem's own journal, kernel work that competes for the same cores.
   */
  private switchJournal(): void {
    if (!this.inactiveCovered) return;
    const next: 0 | 1 = this.active === 0 ? 1 : 0;
    this.journalEnds[next] = 0;
    this.active = next;
    // The journal just left holds commits up to the snapshot starting now: covered once that one is on disk.
    this.inactiveCovered = false;
  }

  /** Commits durably, now (at stop): the journal is fsynced and the snapshot written. */
  writeNow(entries: ReadonlyMap<string, CursorEntry>): void {
    this.prepare(entries).commit();
    this.withdraw();
    try {
      for (const fd of this.journalFds) if (fd !== undefined) fs.fsyncSync(fd);
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

  /** The committed state as a snapshot's text, taken now; commits from here on go to the other journal if they may. */
  private takeSnapshot(): string | undefined {
    if (!this.snapshotDue) return undefined;
    const text = this.snapshotText(this.seq);
    this.snapshotDue = false;
    this.switchJournal();
    return text;
  }

  /** Temp file + fsync + rename of the newest state, off the send path; a failure is reported, the journals stay. */
  private async writeSnapshot(): Promise<void> {
    const text = this.takeSnapshot();
    if (text === undefined) return;
    try {
      await replaceFile(this.file, text);
      this.inactiveCovered = true;
    } catch (err) {
      // A full disk fails here once a second: keep the state for the next attempt.
      this.snapshotDue = true;
      this.onWriteError(err as Error);
    }
    if (this.snapshotDue) this.snapshotSoon();
  }

  /** writeSnapshot, synchronously (at stop); throws what it cannot write. */
  private writeSnapshotNow(): void {
    clearTimeout(this.snapshotTimer);
    this.snapshotTimer = undefined;
    const text = this.takeSnapshot();
    if (text === undefined) return;
    try {
      replaceFileSync(this.file, text);
    } catch (err) {
      this.snapshotDue = true;
      throw err;
    }
    this.inactiveCovered = true;
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

  /** Closes the journal files (after the stop's durable write). */
  close(): void {
    clearTimeout(this.snapshotTimer);
    this.snapshotTimer = undefined;
    for (const fd of this.journalFds) if (fd !== undefined) fs.closeSync(fd);
    this.journalFds = [undefined, undefined];
  }
}

/** The `<length> <crc32>` of a journal record's header. */
function recordCheck(json: Buffer): string {
  return `${json.length} ${crc32(json).toString(16)}`;
}

type EntryJson = FileShape['containers'][string];

/**
 * `"<id>":{"ts":…,"n":…,"name":…[,"removedAt":…]}`: one container in a snapshot or a journal record (what
 * cursorFromJson reads; the time is digits and a dot, written without escaping). In a burst every container's cursor moves with every batch:
 * preparing a commit of 51 moved containers took 110 µs with each entry built as an object and stringified, 54 µs
 * written out (one prepare per batch, and one more per write the kernel takes only in part).
 */
function entryJson(id: string, c: CommittedEntry): string {
  return `${JSON.stringify(id)}:{"ts":"${formatUnixNano(c.cursor.time)}","n":${c.cursor.count},"name":${JSON.stringify(c.name)}${c.removedAt ? `,"removedAt":${c.removedAt}` : ''}}`;
}

function parseSnapshot(bytes: Buffer): FileShape {
  return JSON.parse(bytes.toString('utf8')) as FileShape;
}

/** One journal record: the containers a commit changed (null: gone), or a whole state (the version before journals). */
interface JournalRecord {
  seq: number;
  full: boolean;
  shape: { containers: Record<string, EntryJson | null> };
  /** An announced write (PreparedCursors.announce): no state of its own. */
  sending?: { lines: number; to: Record<string, EntryJson | null> };
}

function inFlightOf(sending: NonNullable<JournalRecord['sending']>): InFlightWrite {
  const containers: InFlightWrite['containers'] = [];
  for (const [id, v] of Object.entries(sending.to ?? {})) {
    const to = v ? cursorFromJson(v) : undefined;
    if (v && to) containers.push({ id, name: v.name ?? '', to });
  }
  return { lines: Number(sending.lines) || 0, containers };
}

/**
 * The records of a journal, up to the first one whose header or checksum does not match (cut by a crash, or the
 * rest of an older record written over) or whose sequence does not rise; `end` is where that one begins, where
 * the next record goes.
 */
function parseJournal(bytes: Buffer): { records: JournalRecord[]; end: number; error?: string } {
  const records: JournalRecord[] = [];
  let at = 0;
  while (at < bytes.length) {
    const nl = bytes.indexOf(10, at);
    if (nl < 0) return { records, end: at, error: 'a record without its header line' };
    const [magic, version, seqText, lengthText, crcText] = bytes.toString('latin1', at, nl).split(' ');
    const seq = Number(seqText);
    const length = Number(lengthText);
    if (magic !== RECORD_MAGIC || (version !== '2' && version !== '3') || !Number.isSafeInteger(seq) || !Number.isInteger(length) || nl + 1 + length > bytes.length) {
      return { records, end: at, error: 'checksum or header does not match (a write cut by a crash)' };
    }
    const json = bytes.subarray(nl + 1, nl + 1 + length);
    if (crc32(json).toString(16) !== crcText) return { records, end: at, error: 'checksum or header does not match (a write cut by a crash)' };
    // A journal is written again from its start without truncating it: the records after a lower sequence are
    // older than a snapshot on disk.
    if (records.length > 0 && seq <= records[records.length - 1]!.seq) return { records, end: at };
    const shape = JSON.parse(json.toString('utf8')) as JournalRecord['shape'] & { sending?: JournalRecord['sending'] };
    records.push({ seq, full: version === '2', shape: { containers: shape.containers ?? {} }, sending: shape.sending });
    // After the one whole state the version before journals wrote at the start of the file comes the rest of an
    // older, longer one: it fails the header check, and this process's records go there.
    at = nl + 1 + length;
  }
  return { records, end: at };
}
