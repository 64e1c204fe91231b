import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import type { DockerAccess } from '../core/docker/access.js';
import { asSwarmwatchError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { ContainerRecord } from '../core/state/types.js';
import { RecordAssembler, ZERO_CURSOR, type LogRecord } from './assembler.js';
import { compareCursor, PositionTracker, type Cursor } from './cursor.js';
import { MultiplexedDecoder, parseEntry, RawLineDecoder, type StreamName } from './frames.js';
import { decodeEscapedText, endsWithEscape, JsonFileSource } from './json-file-source.js';
import { copyLogParts, type CopiedLog } from './log-copy.js';
import { LogFileWatch } from './log-file-watch.js';
import { compareTime, formatUnixNano, type EngineTime } from './timestamp.js';

/** Container label with a container's own start-of-record pattern (overrides shipper.multiline-pattern). */
const MULTILINE_LABEL = 'swarmwatch.multiline.pattern';

export interface ReaderDeps {
  docker: DockerAccess;
  log: Logger;
  container(): ContainerRecord | undefined;
  maxBytes: number;
  multiline?: RegExp;
  multilineTimeoutMs: number;
  /** Hands a record over for encoding and delivery; false means "buffer full, pause". */
  deliver(record: LogRecord, container: ContainerRecord): boolean;
  /**
   * Hands over a one-line record whose text is `src[start, end)` as the engine JSON-escaped it (read-mode file),
   * to be encoded as is; false means "buffer full, pause". Without it such lines are decoded and go to deliver.
   */
  deliverEscaped?(src: Buffer, start: number, end: number, stream: StreamName, time: EngineTime, cursor: Cursor, container: ContainerRecord): boolean;
  /** Resolves when the buffer has room again. */
  drained(): Promise<void>;
  /** A batch is ready and the sender waits for its event-loop turn: a json-file read stops parsing until the next turn. */
  batchWaiting?(): boolean;
  onDropped(reason: string, n?: number): void;
  /** A container's json-file log was found emptied or cut in place while being read (JsonFileSource.cutInPlace). */
  onLogCut?(): void;
  /** Limits how many stopped containers are read at once (catch-up after a restart). */
  acquireCatchUp(): Promise<() => void>;
  /** The container's json-file log when read-mode is "file" and the file is readable; undefined reads the API. */
  logFileOf?(c: ContainerRecord): string | undefined;
  /** Whether the committed cursor of this container has reached `position` (its lines up to there are delivered). */
  delivered?(position: Cursor): boolean;
  /**
   * A descriptor of that log opened when the container started (EarlyLogFiles), handed over once: read from it, a
   * log the engine removed with its container since is still there.
   */
  takeOpenedLog?(): number | undefined;
  /** The log read is a copy kept in the shipper's state dir (RemovedLogSpool): it waits its turn like any catch-up. */
  readsKeptCopy?(): boolean;
  /** While a json-file is watched for writes, it is also looked at this often (FILE_WATCH_FALLBACK_MS). */
  fileWatchFallbackMs?: number;
}

/**
 * A running container's json-file is watched for writes once read to its end (LogFileWatch), with a look every
 * FILE_WATCH_FALLBACK_MS as a safety net. Where no watch can be set (the inotify watch limit), it is polled: 10 ms
 * after it last grew, doubling to FILE_POLL_MAX_MS while it stays quiet.
 */
const FILE_POLL_MIN_MS = 10;
/**
 * How often a stopped container's reader, at the end of its file, looks whether its lines are delivered: at first,
 * then doubling to DELIVERY_LOOK_MAX_MS (a destination down for hours must not make every such reader read 10 times
 * a second).
 */
const DELIVERY_LOOK_MS = 100;
const DELIVERY_LOOK_MAX_MS = 1000;
const FILE_POLL_MAX_MS = 100;
const FILE_WATCH_FALLBACK_MS = 1000;
/**
 * How soon a reader looks again at a container the model calls "created" (for its log file in read-mode file, with
 * a logs request in read-mode api), doubling up to CREATED_LOOK_MAX_MS: a container created and never started costs
 * a look every 4 s.
 */
const CREATED_LOOK_MS = 500;
const CREATED_LOOK_MAX_MS = 4000;
/** A json-file read that brought this much means the container logs flat out: its reader stops watching the file. */
const HEAVY_READ_BYTES = 32 * 1024;
/** Reads that bring data at least this far apart mean the container logs now and then: its reader keeps the watch. */
const QUIET_MS = 50;
/**
 * A read of a container that logs flat out which brought less than this found the reader caught up with the
 * engine's writes: the reader waits GATHER_MS before the next read, so it reads chunks, not single writes.
 */
const GATHER_BELOW_BYTES = 16 * 1024;
const GATHER_MS = 10;
export const runningStates: ReadonlySet<string> = new Set(['running', 'restarting', 'paused']);
/**
 * A container stopped this long ago had every entry flushed to its json-file long before: reading the file to its
 * end once is enough. The second look after a pause (and the reread after it) are for containers that just
 * stopped; with 50 stopped containers to catch up after a restart, each held a catch-up slot 50 ms longer for them.
 */
const FLUSHED_AFTER_STOP_S = 5;

function stoppedLongAgo(c: ContainerRecord): boolean {
  return !runningStates.has(c.state) && c.finishedAt !== undefined && Date.now() / 1000 - c.finishedAt > FLUSHED_AFTER_STOP_S;
}

/**
 * Follows one container's log through the engine's logs API, from its cursor on, and turns entries into records.
 * When the stream ends it reopens from the last entry read while the container runs, and goes idle once it stopped
 * (a start/restart event wakes it). Reading pauses whenever delivery is behind: the container is never slowed,
 * its log file is the buffer.
 */
export class ContainerReader {
  private readonly tracker: PositionTracker;
  private stopped = false;
  private stream?: Readable;
  private wakeUp?: () => void;
  private woken = false;
  private running?: Promise<void>;
  /** Resolves at stop(): a read paused until the buffer drains must not hold the shutdown while the destination is down. */
  private readonly stopping: Promise<void>;
  private stopNow: () => void = () => undefined;

  /** Resolves at finish(): a removal ends the wait for a catch-up slot. */
  private readonly removing: Promise<void>;
  private removedNow: () => void = () => undefined;

  constructor(readonly id: string, start: Cursor | undefined, private readonly deps: ReaderDeps) {
    this.tracker = new PositionTracker(start);
    this.stopping = new Promise((resolve) => { this.stopNow = resolve; });
    this.removing = new Promise((resolve) => { this.removedNow = resolve; });
    this.endedPromise = new Promise((resolve) => { this.markEnded = resolve; });
  }

  private readonly endedPromise: Promise<void>;
  private markEnded: () => void = () => undefined;

  start(): void {
    this.running ??= this.loop().catch((err) => this.deps.log.error('log reader stopped unexpectedly', { container: this.id.slice(0, 12), error: (err as Error).message })).finally(() => this.markEnded());
  }

  /** The record the last read started with; the state model replaces records whenever a container changes. */
  private lastRecord?: ContainerRecord;

  /** Reads again when the container changed since the last read began (a missed start event must not strand it). */
  noticeChange(current: ContainerRecord): void {
    // A json-file read waiting for writes looks at the container again now (a stop ends the read), once per change:
    // every state change calls this for every reader.
    if (this.fileSource) {
      if (this.fileWaiting && current !== this.seenByFileRead) this.wakeUp?.();
      return;
    }
    if (!this.open && current !== this.lastRecord) this.wake();
  }

  /** The container's record as the json-file read last looked at it. */
  private seenByFileRead?: ContainerRecord;
  /**
   * The json-file read waits for the engine to write (not in the short pause after a stop, whose length is what
   * lets the engine flush the last entries).
   */
  private fileWaiting = false;

  /** A start/restart event: read again even if the last stream ended with the container stopped. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /**
   * The container was removed: read what the open log file holds to its end (read-mode file: the engine unlinked it,
   * the open file keeps it), then end. `record` stands in for the model's, which is gone; a reader that holds no
   * file ends at once.
   */
  finish(record: ContainerRecord): void {
    this.removedRecord = { ...record, state: 'exited', pid: 0, finishedAt: record.finishedAt ?? Date.now() / 1000 };
    this.removedNow();
    this.wakeUp?.();
  }

  /**
   * Resolves when the reader has ended: finished and read (and, when removed, delivered) to the end, or stopped. Not
   * before it started: taken between finish() and start(), an `ended` that was already resolved made a removed
   * container's files be let go before its reader opened them.
   */
  get ended(): Promise<void> {
    return this.endedPromise;
  }

  /** Whether a log stream or file of the container was ever opened: a removed container never opened was missed. */
  get openedLog(): boolean {
    return this.everOpened;
  }

  private everOpened = false;

  /**
   * Bytes of the json-file log the current read has not handed out (0 when no file read is under way: a read ends
   * only at the log's end or at a stop).
   */
  get unreadLogBytes(): number {
    return this.fileSource?.unreadBytes() ?? 0;
  }

  /** A json-file read is under way: there is an open log to copy (copyLogTo). */
  get readsFile(): boolean {
    return this.fileSource !== undefined;
  }

  /**
   * A removed container: copies what its open log holds from `since` on into `dest` (JsonFileSource.logParts,
   * copyLogParts, which `cutNow` can end early); undefined when no file read is under way (nothing open to copy) or
   * when `cancelled` said so.
   */
  async copyLogTo(dest: string, since: Cursor | undefined, cancelled: () => boolean, cutNow?: () => boolean): Promise<CopiedLog | undefined> {
    const parts = this.fileSource?.logParts(since);
    return parts ? copyLogParts(parts, dest, cancelled, cutNow) : undefined;
  }

  private fileSource?: JsonFileSource;

  /** The record the last read started with (the model's, or the one finish() gave). */
  get record(): ContainerRecord | undefined {
    return this.lastRecord;
  }

  /** Set by finish(): the container is gone and this is what the reader knew of it. */
  private removedRecord?: ContainerRecord;

  /** The model's record of the container; after finish(), the last one known, as exited. */
  private container(): ContainerRecord | undefined {
    return this.removedRecord ?? this.deps.container();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopNow();
    this.stream?.destroy();
    this.wakeUp?.();
    await this.running;
    this.markEnded();
  }

  /** The last json-file read ended at the file's end with the container stopped, after its last look. */
  private fileReadEndedStopped = false;

  /**
   * Gives back the catch-up slot taken for a read that began with the container stopped or only created. A read
   * lasts as long as the container runs: held on, 8 containers created (or restarted) before they ran kept every
   * slot for their whole life and every other stopped container's reader waited, its lines unread.
   */
  private releaseCatchUp: () => void = () => undefined;

  get open(): boolean {
    return this.stream !== undefined || this.fileSource !== undefined;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done() { clearTimeout(timer); resolve(); }
      this.wakeUp = done;
    });
  }

  private async loop(): Promise<void> {
    let failures = 0;
    let createdLookMs = CREATED_LOOK_MS;
    while (!this.stopped) {
      const c = this.container();
      if (!c) return;
      const wasRunning = runningStates.has(c.state);
      this.woken = false;
      this.lastRecord = c;
      let read = 0;
      let readFile = false;
      let unreadable = false;
      const release = wasRunning ? () => undefined : await this.catchUpSlot(c);
      this.releaseCatchUp = once(release);
      try {
        if (this.stopped) return;
        const file = this.heldLog?.path ?? this.deps.logFileOf?.(c);
        // Removed, and no file to read to its end: the engine serves a removed container's log no more.
        if (file === undefined && this.removedRecord) return;
        // Removed by the engine at its exit (`--rm`): a logs request only while the model says it runs. Asked while
        // the engine removes it, the engine opens the log file again and the removal fails, leaving the container
        // "Removal In Progress" for good (moby#40729; seen here in bursts of 50 `--rm` containers, whose "created"
        // records the model still held after they had run). One that stopped is done (not read while it ran, it is
        // counted); one only created waits for its start.
        let askedAfterExit = file === undefined && c.autoRemove && !runningStates.has(c.state);
        if (askedAfterExit && c.state !== 'created') return;
        // The model's "running" can be seconds old in a burst (its events come late): the engine is asked first, and
        // its answer leaves milliseconds, not seconds, for the exit to come before the logs request.
        if (!askedAfterExit && file === undefined && c.autoRemove) {
          const runs = await this.runsNow(c.id);
          if (runs === false) return;
          askedAfterExit = runs === undefined;
        }
        readFile = file !== undefined;
        read = askedAfterExit ? 0 : file ? await this.readFileOnce(c, file) : await this.readOnce(c);
        failures = 0;
      } catch (err) {
        const e = asSwarmwatchError(err);
        if (e.code === 'SW_ERR_DOCKER_NOT_FOUND') return;
        if (e.code === 'SW_ERR_DOCKER_LOGS_UNREADABLE') {
          // Retrying cannot help: one warning, then nothing until the container changes (recreated with another driver).
          if (!this.warnedUnreadable) this.deps.log.warn(`not shipping ${c.name}: ${e.message}`, { container: c.id.slice(0, 12), code: e.code, driver: c.logDriver });
          this.warnedUnreadable = true;
          unreadable = true;
        } else {
          failures++;
          if (failures === 1) this.deps.log.warn(`cannot read logs of ${c.name}: ${e.message}; retrying`, { container: c.id.slice(0, 12), code: e.code });
        }
      } finally {
        this.releaseCatchUp();
        this.closeHeldLog();
      }
      if (this.stopped || this.removedRecord) return;
      const now = this.container();
      if (!now) return;
      if (unreadable) {
        this.lastRecord = now;
        await this.sleep(2 ** 31 - 1);
      } else if (failures > 0) await this.sleep(Math.min(30_000, 500 * 2 ** Math.min(failures, 6)));
      // "created" and nothing read: the engine creates the log file when it starts the container and follows a logs
      // request only while it runs, and its start event can come seconds after the container started logging
      // (traced: 13 s into a burst of 50 starts, the model still said "created" and the lines waited); look again
      // shortly, in either read mode.
      else if (read === 0 && now.state === 'created' && !this.woken) {
        await this.sleep(!readFile && now.autoRemove ? 2 ** 31 - 1 : createdLookMs);
        createdLookMs = Math.min(createdLookMs * 2, CREATED_LOOK_MAX_MS);
      }
      // Idle only after a request that found nothing new: the engine's follow stream can end at container exit
      // before it sent the last entries, so a stream that ended with lines is always followed by one more request.
      // A json-file read that ended because the container stopped has made that last look itself (readFileOnce);
      // another read only parsed the whole file again: with 50 containers exiting together, 50 files.
      else if ((read === 0 || (readFile && (this.fileReadEndedStopped || stoppedLongAgo(now)))) && !runningStates.has(now.state) && !this.woken) {
        // Idle on what `now` says, so only a change after it wakes the reader (noticeChange). Compared with the
        // record the read began with, every reader whose container had stopped was woken by the next change of any
        // container (the shipper shows every reader every change) and read its file once more: 42 of 50 containers
        // exiting together. The other waits keep that comparison: a start that came during a read which found no
        // file yet must end them at the next change, not after 500 ms.
        this.lastRecord = now;
        await this.sleep(2 ** 31 - 1);
      }
      // Running but the stream ended: the engine or the container is restarting; avoid a tight loop. A `--rm`
      // container's stream ends at its exit, which the model may not know yet: it is not asked again until the model
      // says whether it still runs (see above).
      else if (read === 0 || (!readFile && now.autoRemove)) await this.sleep(read === 0 ? 500 : 1000);
    }
  }

  /**
   * One logs request from the current position to the end of the stream; returns new (not skipped) entries.
   * A stream reopened from a cursor must begin with the cursor's own entry (`since` is inclusive). When it begins
   * later, the engine no longer serves that entry: either it was rotated away unread (counted, as read-mode file
   * does), or engine 20.10 skipped rotated files it still has (its `since` stops at the first compressed file that
   * ends before `since`, dropping every newer rotated file): then the log is read again from its start.
   */
  private async readOnce(c: ContainerRecord): Promise<number> {
    const pos = this.tracker.position;
    if (!pos || (this.gapReportedAt && compareCursor(this.gapReportedAt, pos) === 0)) return this.streamFrom(c, pos, 'since');
    const read = await this.streamFrom(c, pos, 'since-checked');
    if (read !== CURSOR_ENTRY_GONE) return read;
    const oldest = await this.oldestEntryTime(c);
    if (this.stopped) return 0;
    if (oldest && compareTime(oldest, pos.time) <= 0) {
      this.deps.log.warn(`the engine skipped rotated log files of ${c.name} it still has (since= into a compressed file); reading its log again from the start`, { container: c.id.slice(0, 12) });
      return this.streamFrom(c, pos, 'whole-log');
    }
    this.reportRotatedAway(c);
    // Reopened without the check: the stream begins after the cursor, which is now known and counted.
    this.gapReportedAt = pos;
    return this.streamFrom(c, pos, 'since');
  }

  /** The cursor whose gap was counted: its reopen must not count the same gap again. */
  private gapReportedAt?: Cursor;

  private reportRotatedAway(c: ContainerRecord): void {
    this.deps.onDropped('rotated_before_read');
    this.deps.log.warn(`the log of ${c.name} was rotated past its cursor before it was read (or emptied in place while the shipper was stopped: from the files alone the two look the same): lines written while the shipper was behind are gone`, { container: c.id.slice(0, 12) });
  }

  /**
   * Time of the oldest entry the engine still serves: the first entry of a request without `since`, then the
   * request is dropped (the engine stops reading when its consumer goes). Cheap for plain files; engine 20.10
   * inflates every compressed rotated file before it sends the first entry, which is why this runs only after a
   * reopened stream did not begin at its cursor.
   */
  private async oldestEntryTime(c: ContainerRecord): Promise<EngineTime | undefined> {
    const stream = await this.deps.docker.containerLogs(c.id, { follow: false, timestamps: true });
    let oldest: EngineTime | undefined;
    const onEntry = (name: StreamName, payload: Buffer) => {
      oldest ??= parseEntry(name, payload)?.time;
      if (oldest) stream.destroy();
    };
    const decoder = decoderFor(c, onEntry);
    try {
      await streamDone(stream, (chunk) => { if (!oldest) decoder.push(chunk); });
    } finally {
      stream.destroy();
    }
    if (!oldest && decoder instanceof RawLineDecoder) decoder.flush();
    return oldest;
  }

  /**
   * One follow request. `since`: from the cursor's time; `since-checked`: the same, but returns CURSOR_ENTRY_GONE
   * without reading on when the first entry is newer than the cursor; `whole-log`: no `since` (the tracker skips
   * what was shipped).
   */
  private async streamFrom(c: ContainerRecord, pos: Cursor | undefined, mode: 'since' | 'since-checked' | 'whole-log'): Promise<number> {
    // `since` is inclusive: entries at exactly pos.time that were already read come again and must be skipped.
    this.tracker.resumeFrom(pos);
    const stream = await this.deps.docker.containerLogs(c.id, {
      follow: true, timestamps: true, since: pos && mode !== 'whole-log' ? formatUnixNano(pos.time) : undefined,
    });
    if (this.stopped) { stream.destroy(); return 0; }
    this.stream = stream;
    // A follow stream of a running container lasts as long as it runs: not a catch-up read. Opened while it runs, it
    // gets what the container writes; one opened while it is only "created" may end at once with nothing.
    if (runningStates.has(this.container()?.state ?? '')) {
      this.releaseCatchUp();
      this.everOpened = true;
    }
    let entries = 0;
    let paused = false;
    const assembler = this.assemblerFor(c, () => {
      if (paused) return;
      paused = true;
      stream.pause();
      void this.deps.drained().then(() => { paused = false; if (!this.stopped) stream.resume(); });
    });
    let before: Cursor = pos ?? ZERO_CURSOR;
    let checkFirst = mode === 'since-checked' && pos !== undefined;
    const localDriver = c.logDriver === 'local';
    let cursorEntryGone = false;
    const onEntry = (name: StreamName, payload: Buffer) => {
      if (cursorEntryGone) return;
      const frame = parseEntry(name, payload, localDriver);
      if (!frame) { this.deps.onDropped('unparsable_entry'); return; }
      if (checkFirst) {
        checkFirst = false;
        if (compareTime(frame.time, pos!.time) > 0) { cursorEntryGone = true; stream.destroy(); return; }
      }
      const { position, skip } = this.tracker.advance(frame.time);
      this.everOpened = true;
      if (!skip) { entries++; assembler.push(frame, position, before); }
      before = position;
    };
    const decoder = decoderFor(c, onEntry);
    // A local-driver TTY line's last piece waits for the next entry: after a quiet second it is shipped as it is.
    // Not while reading is paused: the rest of that piece may be waiting unread in the paused stream.
    const quiet = decoder instanceof RawLineDecoder && localDriver
      ? setTimeout(() => { if (paused) quiet!.refresh(); else decoder.endQuietLastPiece(); }, QUIET_LAST_PIECE_MS)
      : undefined;
    quiet?.unref();
    try {
      await streamDone(stream, (chunk) => { decoder.push(chunk); quiet?.refresh(); });
    } finally {
      clearTimeout(quiet);
      this.stream = undefined;
      stream.destroy();
    }
    if (cursorEntryGone) {
      assembler.close();
      this.tracker.resumeFrom(pos);
      return CURSOR_ENTRY_GONE;
    }
    // An incomplete multiplexed frame was never counted by the tracker: the next request reads it again.
    if (decoder instanceof RawLineDecoder) decoder.flush();
    // Stopping: pending pieces are not shipped; the cursor never passed them, so the next start rereads them.
    if (this.stopped) {
      assembler.close();
      return entries;
    }
    const pending = assembler.pendingFrom();
    if (pending && entries > pending.frames) {
      // The stream ended inside a line the engine split (or an open multiline record) after other new entries: an
      // engine 20.10 follow stream can end at container exit before its last entries, and flushing here shipped a
      // 1.2 MiB line as two messages. Read those entries again with the rest; a request that brings nothing
      // beyond them (the line really ends unterminated) flushes them below.
      assembler.close();
      this.tracker.resumeFrom(compareCursor(pending.before, ZERO_CURSOR) === 0 ? undefined : pending.before);
      return entries - pending.frames;
    }
    assembler.flush();
    assembler.close();
    return entries;
  }

  /** Whether every line up to `position` is delivered (nothing read, or no way to tell: yes). */
  private deliveredUpTo(position: Cursor): boolean {
    return compareCursor(position, ZERO_CURSOR) === 0 || this.deps.delivered?.(position) !== false;
  }

  /** Whether the engine says the container runs; undefined when it did not answer (asked again later). */
  private async runsNow(id: string): Promise<boolean | undefined> {
    try {
      return (await this.deps.docker.inspectContainer(id)).State.Running === true;
    } catch (err) {
      return asSwarmwatchError(err).code === 'SW_ERR_DOCKER_NOT_FOUND' ? false : undefined;
    }
  }

  /** Its log driver keeps nothing to read: warned about once. */
  private warnedUnreadable = false;

  /** The container's multiline label as last compiled: a bad one is warned about once, not at every read. */
  private multilineLabel?: { text: string; pattern?: RegExp };

  /**
   * The start-of-record pattern for this container: its label's (a service can need its own, say a Java stack
   * trace), else the shipper's; undefined ships lines. A label that is no regular expression falls back to the
   * shipper's, with one warning naming the container.
   */
  private multilineOf(c: ContainerRecord): RegExp | undefined {
    const text = c.labels[MULTILINE_LABEL];
    if (!text) return this.deps.multiline;
    if (this.multilineLabel?.text !== text) {
      let pattern: RegExp | undefined;
      try {
        pattern = new RegExp(text);
      } catch (err) {
        const fallback = this.deps.multiline ? `shipper.multiline-pattern (${this.deps.multiline.source})` : 'none (line by line)';
        this.deps.log.warn(`label ${MULTILINE_LABEL} of ${c.name} is not a regular expression (${(err as Error).message}); joining its lines by ${fallback} until the label is fixed`, { container: c.id.slice(0, 12) });
      }
      this.multilineLabel = { text, pattern };
    }
    return this.multilineLabel.pattern ?? this.deps.multiline;
  }

  private assemblerFor(c: ContainerRecord, onFull: () => void): RecordAssembler {
    return new RecordAssembler({
      maxBytes: this.deps.maxBytes,
      multiline: this.multilineOf(c),
      multilineTimeoutMs: this.deps.multilineTimeoutMs,
      tty: c.tty,
      emit: (record) => {
        if (!this.deps.deliver(record, this.container() ?? c)) onFull();
      },
    });
  }

  private static warnedWatch = false;

  private warnWatchUnavailable(err: Error | undefined): void {
    // Once per process: with the watch limit reached, every reader after it would say the same.
    if (ContainerReader.warnedWatch || !err) return;
    ContainerReader.warnedWatch = true;
    const limit = (err as NodeJS.ErrnoException).code === 'ENOSPC' ? ' (the inotify watch limit: raise sysctl fs.inotify.max_user_watches)' : '';
    this.deps.log.warn(`cannot watch the log file of ${this.lastRecord?.name ?? this.id.slice(0, 12)} for writes${limit}: ${err.message}; polling it every ${FILE_POLL_MIN_MS}–${FILE_POLL_MAX_MS} ms instead`, { container: this.id.slice(0, 12), code: (err as NodeJS.ErrnoException).code });
  }

  /** The live json-file log opened before waiting for a catch-up slot (catchUpSlot), until a read takes it. */
  private heldLog?: { path: string; fd: number };

  /**
   * A catch-up slot for a read that begins with the container stopped. Only 8 such reads run at once, and with the
   * destination down each holds its slot while its rest waits unread. Meanwhile a waiting container can be removed
   * (swarm pruning old tasks beyond its task-history-limit, `docker rm`, a prune: after a node's reboot, while
   * Graylog is not up yet), its log with it: so its live log is held open while it waits (read-mode file), and a
   * removal ends the wait, so the held log is read, and kept in the state dir (keepRemovedLog), at once; the removed
   * containers read so are bounded by shipper.removed-files-max. Rotated files are not held: a removal during the
   * wait loses the ones still unread (counted as rotated away when the container has a cursor to compare with).
   */
  private async catchUpSlot(c: ContainerRecord): Promise<() => void> {
    const slot = this.deps.acquireCatchUp();
    const logPath = this.removedRecord ? undefined : this.deps.logFileOf?.(c);
    if (logPath !== undefined) {
      // The descriptor held since the engine created the log (EarlyLogFiles), else one opened now.
      const early = this.deps.takeOpenedLog?.();
      try {
        this.heldLog = { path: logPath, fd: early ?? fs.openSync(logPath, 'r') };
      } catch {
        // Not created yet (a container never started) or already gone: nothing to hold.
      }
    }
    // A copy kept in the state dir is safe where it is: those wait their turn (after a long outage there can be
    // hundreds, and each reader holds a 128 KiB read buffer).
    const removal = this.deps.readsKeptCopy?.() ? new Promise<void>(() => undefined) : this.removing;
    const freed = await Promise.race([slot, removal.then(() => undefined), this.stopping.then(() => undefined)]);
    if (freed) return freed;
    // Read without a slot; the slot, when it comes, goes to the next waiter.
    void slot.then((release) => release());
    return () => undefined;
  }

  private takeHeldLog(): number | undefined {
    const fd = this.heldLog?.fd;
    this.heldLog = undefined;
    return fd;
  }

  private closeHeldLog(): void {
    const fd = this.takeHeldLog();
    if (fd !== undefined) fs.closeSync(fd);
  }

  /** Reads the json-file log directly from the current position; returns when the container stopped and all is read. */
  private async readFileOnce(c: ContainerRecord, file: string): Promise<number> {
    this.fileReadEndedStopped = false;
    const pos = this.tracker.position;
    this.tracker.resumeFrom(pos);
    // Held before waiting for a catch-up slot, or since the engine created the log (EarlyLogFiles).
    const source = new JsonFileSource(file, pos, this.takeHeldLog() ?? this.deps.takeOpenedLog?.());
    try {
      source.open();
    } catch (err) {
      // Whatever it opened before failing (a log rotating during every attempt) is closed; the retry opens anew.
      source.close();
      // The engine creates the file when the container starts; its start (a state change) wakes us again.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
    // Checked at the start and after every chunk: while reading is paused (delivery behind), the engine can rotate
    // the file being read and the ones after it away (max-file); the source finds that when it moves on. The same
    // look reports what the source found damaged (counted, warned once per read) and a log cut in place.
    let warnedDamaged = false;
    const reportFindings = () => {
      if (source.damaged > 0) {
        this.deps.onDropped('unparsable_entry', source.damaged);
        // Once per read: a log damaged all over counts every stretch but does not fill the shipper's own output.
        if (!warnedDamaged) this.deps.log.warn(`the log of ${c.name} holds ${source.damaged} stretch(es) that are no log entry (NUL bytes a power loss left, a write cut by a crash, a compressed rotated file cut short): skipped, the entries around them shipped`, { container: c.id.slice(0, 12), file });
        source.damaged = 0;
        warnedDamaged = true;
      }
      if (source.cutInPlace) {
        source.cutInPlace = false;
        this.deps.onLogCut?.();
        this.deps.log.warn(`the log of ${c.name} was emptied or cut in place (truncate, logrotate's copytruncate) while the shipper read it: reading on after the last line read, from the rotated copy where there is one (<log>.1), then from the file's new start; lines written before the cut that were not read yet and are in no copy are gone`, { container: c.id.slice(0, 12), file });
      }
      if (!source.rotatedAway) return;
      source.rotatedAway = false;
      this.reportRotatedAway(c);
    };
    this.everOpened = true;
    reportFindings();
    let full = false;
    const assembler = this.assemblerFor(c, () => { full = true; });
    let before: Cursor = pos ?? ZERO_CURSOR;
    let entries = 0;
    const onEntry = (e: { stream: StreamName; time: EngineTime; text: string; partial: boolean }) => {
      const { position, skip } = this.tracker.advance(e.time);
      if (!skip) entries++;
      if (!skip) assembler.pushText(e.stream, e.time, e.text, e.partial, position, before);
      before = position;
    };
    // Complete lines go out as the engine escaped them while nothing waits in the assembler (no split line, no
    // multiline record): the record, text and message string of each line are never made.
    const deliverEscaped = this.deps.deliverEscaped;
    const asIs = deliverEscaped !== undefined && !this.multilineOf(c);
    const maxBytes = this.deps.maxBytes;
    const onRawLine = (b: Buffer, start: number, end: number, stream: StreamName, time: EngineTime) => {
      const { position, skip } = this.tracker.advance(time);
      if (!skip) {
        entries++;
        // A TTY ends lines with "\r\n": the "\r" (escaped, so "\\r") belongs to the line ending, as pushText drops it.
        const textEnd = c.tty && endsWithEscape(b, start, end, 114 /* r */) ? end - 2 : end;
        // Escaped text is at least as long as its UTF-8, so within maxBytes it needs no cut; an empty line takes
        // the general path, which sends " " (Graylog rejects an empty short_message).
        if (asIs && textEnd > start && textEnd - start <= maxBytes && !assembler.pending) {
          if (!deliverEscaped(b, start, textEnd, stream, time, position, this.container() ?? c)) full = true;
        } else {
          assembler.pushText(stream, time, decodeEscapedText(b, start, end), false, position, before);
        }
      }
      before = position;
    };
    const batchWaiting = this.deps.batchWaiting;
    // What is not parsed now stays in the source (readMore parses it first next time).
    const stopParsing = batchWaiting ? () => full || batchWaiting() : () => full;
    this.stream = undefined;
    this.fileSource = source;
    const watch = new LogFileWatch();
    let watchedSwitches = -1;
    /** When a read last brought data: a container whose reads bring data QUIET_MS apart or more logs now and then. */
    let lastDataAt = 0;
    try {
      let idleSince = 0;
      let pollMs = FILE_POLL_MIN_MS;
      let deliveryLookMs = DELIVERY_LOOK_MS;
      while (!this.stopped) {
        const readBefore = source.bytesRead;
        if (source.readMore(onEntry, stopParsing, onRawLine)) {
          const at = Date.now();
          const quiet = at - lastDataAt >= QUIET_MS;
          lastDataAt = at;
          // A container that logs a line now and then keeps its watch: set and closed around every line, it cost two
          // syscalls, a handle and an extra read and stat per line. One that logs without pause is read chunk after
          // chunk, the reads set the pace, and a watch held on would call back once per engine write (measured: 30 %
          // more shipper CPU per line with 10 containers logging flat out): a read that brings data soon after the
          // last one, or a chunk's worth, closes it. A rotation moved the read to another file: the watch is set
          // again for that one. (Timed from the last data, not from the wait: the safety-net look every second
          // ended the wait just before the next line of a container printing one a second.)
          if (!quiet || source.bytesRead - readBefore >= HEAVY_READ_BYTES || source.fileSwitches !== watchedSwitches) watch.disarm();
          reportFindings();
          idleSince = 0;
          pollMs = FILE_POLL_MIN_MS;
          if (full) { full = false; await Promise.race([this.deps.drained(), this.stopping]); }
          // Caught up with a container that logs flat out: the next read would bring one engine write, a few lines,
          // for a read, a parse and a wake-up each. Let its lines gather in the file for a moment instead.
          else if (!quiet && source.bytesRead - readBefore < GATHER_BELOW_BYTES) await this.sleep(GATHER_MS);
          // Reads are synchronous: give the sender and other readers the event loop between chunks.
          else await new Promise((resolve) => setImmediate(resolve));
          continue;
        }
        const now = this.container();
        this.seenByFileRead = now;
        // The engine has flushed everything once the container stopped: one last pass found nothing, so we are done.
        // A log file exists, so a container the model still calls "created" has been started (see CREATED_LOOK_MS).
        if (!now || !(runningStates.has(now.state) || now.state === 'created')) {
          const readToEnd = idleSince > 0 || (now !== undefined && stoppedLongAgo(now));
          // Read to its end but not delivered to it (the destination is down or behind): the file stays open until
          // it is. A removal in between (`--rm` right after the exit, often before the read has seen it; `docker rm`
          // or a prune later; swarm removing a service's old tasks beyond its task-history-limit) deletes the log,
          // and the open file is then the only copy of the lines read but not delivered: what the shipper keeps in
          // its state dir from (keepRemovedLog), and a stop too. Closed at once, a removal left them in memory only,
          // lost to a kill -9 or a stop before the destination came back. What waits in the assembler goes out now,
          // as at the end of a read; the catch-up slot goes back (this waits for delivery, it reads nothing).
          if (readToEnd && !this.deliveredUpTo(before)) {
            if (!this.stopped) assembler.flush();
            this.releaseCatchUp();
            // A start or a removal ends the wait (noticeChange, finish).
            this.fileWaiting = true;
            try {
              await this.sleep(deliveryLookMs);
            } finally {
              this.fileWaiting = false;
            }
            deliveryLookMs = Math.min(deliveryLookMs * 2, DELIVERY_LOOK_MAX_MS);
            continue;
          }
          if (readToEnd) { this.fileReadEndedStopped = true; break; }
          // Stopped: one more pass after a moment catches entries the engine flushed around the exit.
          idleSince = Date.now();
          await this.sleep(50);
          continue;
        }
        this.releaseCatchUp(); // running: no longer a catch-up read
        // This look saw the container run, so a start event that came before it is read here: left set, a start
        // event that came late (the engine sends them seconds late in a burst) made a second whole read after the exit.
        this.woken = false;
        // Armed after a read that found the end, then one more read before waiting: a write in between is seen.
        if (!watch.armed && watch.arm(source.logPath)) { watchedSwitches = source.fileSwitches; continue; }
        this.fileWaiting = true;
        try {
          if (watch.armed) {
            await watch.wait(this.deps.fileWatchFallbackMs ?? FILE_WATCH_FALLBACK_MS, (wake) => { this.wakeUp = wake; });
            continue;
          }
          this.warnWatchUnavailable(watch.unavailable);
          await this.sleep(pollMs);
        } finally {
          this.fileWaiting = false;
        }
        pollMs = Math.min(pollMs * 2, FILE_POLL_MAX_MS);
      }
    } finally {
      watch.disarm();
      this.fileSource = undefined;
      source.close();
    }
    // Stopping: pending pieces are not shipped; the cursor never passed them, so the next start rereads them.
    if (!this.stopped) assembler.flush();
    assembler.close();
    return entries;
  }
}

/** How long a follow stream stays quiet before a local-driver TTY last piece is taken as whole (RawLineDecoder). */
const QUIET_LAST_PIECE_MS = 1000;

/** streamFrom's answer when a stream reopened from a cursor did not begin at the cursor's entry. */
const CURSOR_ENTRY_GONE = -1;

/** The decoder of a container's logs-API stream: raw lines for a TTY, 8-byte-header frames otherwise. */
function decoderFor(c: ContainerRecord, onEntry: (stream: StreamName, payload: Buffer) => void): RawLineDecoder | MultiplexedDecoder {
  return c.tty ? new RawLineDecoder(onEntry, c.logDriver === 'local') : new MultiplexedDecoder(onEntry);
}

/** Feeds every chunk to `onData` until the stream ends, closes or fails. */
function streamDone(stream: Readable, onData: (chunk: Buffer) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    stream.on('data', onData);
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', reject);
  });
}

function once(fn: () => void): () => void {
  let done = false;
  return () => { if (!done) { done = true; fn(); } };
}
