import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RawEvent } from '../core/docker/types.js';
import { SwarmwatchError } from '../core/errors.js';
import { tryLockFile, type FileLock } from '../core/fs/exclusive-lock.js';
import { LogThrottle, type Logger } from '../core/log.js';
import type { AgentContext, Component } from '../core/runtime/component.js';
import type { ContainerRecord } from '../core/state/types.js';
import { cutUtf8, type LogRecord } from './assembler.js';
import { compareCursor, type Cursor } from './cursor.js';
import { CursorStore, SW_ERR_SHIPPER_CURSOR_READ, SW_ERR_SHIPPER_CURSOR_WRITE, type CursorEntry, type InFlightWrite } from './cursor-store.js';
import { ContainersDirWatch } from './containers-dir-watch.js';
import { EarlyLogFiles, recordFromAttributes } from './early-log-files.js';
import { ownContainerId, shouldShip } from './filter.js';
import { keepRaisingOwnCpuWeight, SW_ERR_SHIPPER_CPU_WEIGHT, type OwnCpuWeightOutcome } from './own-cpu-weight.js';
import type { StreamName } from './frames.js';
import { containerFields, GelfEncoder, levelOf, type MessageBody, type MessageContext } from './gelf-message.js';
import type { CopiedLog } from './log-copy.js';
import { arenaMessage, MessageArena, type MessageOrigin } from './message-arena.js';
import { ShipperMetrics } from './metrics.js';
import { DeliveryQueue, type OutMessage } from './queue.js';
import { ContainerReader, runningStates } from './reader.js';
import { RemovedLogSpool } from './removed-spool.js';
import { Sender } from './sender.js';
import type { ShipperSettings } from './settings.js';
import { engineTimeText, nowEngineTime, type EngineTime } from './timestamp.js';
import { StreamTransport } from './transport/stream.js';
import type { Transport, TransportHooks } from './transport/transport.js';
import { UdpTransport } from './transport/udp.js';

const CATCH_UP_CONCURRENCY = 8;
const STOP_GRACE_MS = 5000;
/** How long a stop waits for the readers of removed containers to finish their open files (before STOP_GRACE_MS). */
const FINISH_GRACE_MS = 3000;
/**
 * A removed container whose reader has not delivered its log to the end this long after the removal (the destination
 * is behind) gets a copy of its log in the state dir, so that a kill -9 loses none of it; at once while deliveries
 * fail (the destination is down: nothing will be delivered soon), when much of it is unread
 * (KEEP_AT_ONCE_UNREAD_BYTES) or when the memory buffer is at least half full (the destination is behind: the job's
 * lines wait behind megabytes of others'). These are looked at again every KEEP_RETRY_MS until then, since a reader
 * that starts after the removal (its container heard of late) fills the buffer only a moment later. Not at once
 * otherwise: with the destination up, a `--rm` job's reader is done within about 100 ms, and a burst of removals
 * would copy and fsync every job's log for nothing.
 */
export const KEEP_REMOVED_AFTER_MS = 1000;
/**
 * A removed container with more than this of its log unread is kept at once too: a reader that keeps up reads that
 * much in milliseconds, so so much left unread means its reading is held back by delivery (the destination is up
 * but behind), and it will not be done within KEEP_REMOVED_AFTER_MS. Without it, a kill -9 in that second lost the
 * rest (18,406 of a 20,000-line job in the test, the receiver reading 600 KB/s).
 */
const KEEP_AT_ONCE_UNREAD_BYTES = 1024 * 1024;
/**
 * A removed container's reader that has no file open yet when its log is to be kept (between its removal, which ends
 * any wait for a catch-up slot, and its read's first turn) is asked again this often, until it reads or ends.
 */
const KEEP_RETRY_MS = 100;
/** A stop's grace ended with lines of removed containers whose logs were not kept still undelivered: they are lost. */
export const SW_ERR_SHIPPER_LOST_AT_STOP = 'SW_ERR_SHIPPER_LOST_AT_STOP';

export function createTransport(s: ShipperSettings, hooks: TransportHooks, log: Logger): Transport {
  const d = s.destination;
  if (d.scheme === 'udp') {
    return new UdpTransport({ destination: d, compression: s.compression, compressionLevel: s.compressionLevel, datagramSize: s.udpChunkSize, resolveIntervalMs: s.resolveIntervalMs, sendThread: s.udpSendThread }, hooks, log);
  }
  return new StreamTransport({ destination: d, tls: d.scheme === 'tls' ? s.tls : undefined, writeTimeoutMs: s.writeTimeoutMs, resolveIntervalMs: s.resolveIntervalMs }, hooks, log);
}

/** Resolves when every promise settled or after `ms`, whichever comes first. */
async function settledWithin(promises: Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); });
  await Promise.race([Promise.allSettled(promises), timeout]);
  clearTimeout(timer);
}

/** Builds the GELF body of a record: short_message is the first line, full_message the record when it spans lines. */
export function bodyOf(record: LogRecord, maxTextBytes?: number): MessageBody {
  let lines = record.lines;
  let truncatedFromBytes = record.truncatedFromBytes;
  if (maxTextBytes !== undefined) {
    const full = lines.join('\n');
    const buf = Buffer.from(full);
    if (buf.length > maxTextBytes) {
      lines = cutUtf8(buf, maxTextBytes).toString('utf8').split('\n');
      truncatedFromBytes = truncatedFromBytes ?? buf.length;
    }
  }
  // Graylog rejects an empty short_message; an empty line is still a line the container wrote.
  const first = lines[0] || ' ';
  return {
    shortMessage: first,
    fullMessage: lines.length > 1 ? lines.join('\n') : undefined,
    time: record.time,
    level: levelOf(record.stream),
    truncatedFromBytes,
  };
}

/** The warning at start when the previous run died with a write in flight (lines may arrive twice). */
export const SW_ERR_SHIPPER_UNCLEAN_STOP = 'SW_ERR_SHIPPER_UNCLEAN_STOP';

/**
 * The log shipper: discovers containers from the shared state model, reads each one's log through the engine,
 * and delivers GELF messages; cursors advance only with delivery.
 */
export class LogShipper implements Component {
  readonly name = 'log-shipper';
  private readonly log: Logger;
  private readonly metrics: ShipperMetrics;
  private readonly store: CursorStore;
  private readonly queue: DeliveryQueue;
  private readonly readers = new Map<string, ContainerReader>();
  /** Readers of removed containers reading their open log file to its end (read-mode file). */
  private readonly finishing = new Map<string, ContainerReader>();
  /**
   * Removed containers whose logs are kept in the state dir (RemovedLogSpool: by the run when not delivered soon, or by
   * a stop); a reader opened for one after a restart reads that copy.
   */
  private readonly spooled = new Set<string>();
  /** Copies into the spool the run has under way (keepRemovedLog), by container: a stop waits for them. */
  private readonly copying = new Map<string, Promise<void>>();
  /** Set by a stop: performance.now() at shipper.stop-timeout, when copies under way keep what they hold. */
  private stopDeadline?: number;
  /**
   * Removed containers whose logs a stop left partly or wholly unkept, with the bytes not kept (undefined: its
   * reader had not opened the log yet).
   */
  private readonly notKeptAtStop: { name: string; bytes?: number }[] = [];
  private readonly spool: RemovedLogSpool;
  /** Log files opened at start events, before the state model knows the container (read-mode file). */
  private readonly early = new EarlyLogFiles();
  /**
   * Containers whose start event came while no reader had their log open, with when: one removed before any reader
   * opened its log (and with no file held) is counted as missed, not hidden.
   */
  private readonly startSeen = new Map<string, number>();
  private readonly encoders = new Map<string, { record: ContainerRecord; encoder: GelfEncoder; origin: MessageOrigin }>();
  private cursors = new Map<string, CursorEntry>();
  private fresh = false;
  private transport?: Transport;
  private sender?: Sender;
  private selfId?: string;
  private catchUpFree = CATCH_UP_CONCURRENCY;
  private readonly catchUpWaiters: (() => void)[] = [];
  private expiryTimer?: NodeJS.Timeout;
  private stopRaisingCpuWeight?: () => void;
  private stopped = false;
  private readonly onContainers = () => this.sync();
  private readonly onContainerEvent = (ev: RawEvent) => this.containerEvent(ev);

  constructor(private readonly ctx: AgentContext, private readonly settings: ShipperSettings) {
    this.log = ctx.log.child('log-shipper');
    this.metrics = new ShipperMetrics(ctx.registry);
    this.store = new CursorStore(settings.stateDir, (err) => this.cursorWriteFailed(err));
    this.spool = new RemovedLogSpool(settings.stateDir);
    this.queue = new DeliveryQueue(settings.bufferBytes);
    this.metrics.queuedBytes = () => this.queue.bytes;
  }

  /** The state dir's lock (stateDir/lock) while this shipper uses the dir; undefined without flock. */
  private lock?: FileLock;
  private lockTimer?: NodeJS.Timeout;
  /**
   * Cursors loaded: only then does stop() write the cursor files (before, it would write an empty state over the
   * other shipper's, or over files that failed to load and that the operator was told to repair).
   */
  private begun = false;

  /**
   * Ships once this process holds the state dir: a second shipper on the same dir (a start-first update of the
   * service, an agent and a log-shipper sharing a volume) would ship every line again and overwrite the other's
   * cursors. The one that finds the dir taken waits for it, looking every second, with its HTTP endpoints up (a
   * start-first update waits for the new task to be up before it stops the old one).
   */
  async start(): Promise<void> {
    fs.mkdirSync(this.settings.stateDir, { recursive: true });
    if (this.takeStateDir()) { await this.begin(); return; }
    this.log.warn(`another log shipper is using the state dir ${this.settings.stateDir} (its lock file is held): waiting for it to stop before shipping; give each shipper its own state dir, or let only one run per node (update order stop-first)`);
    this.lockTimer = setInterval(() => {
      if (this.stopped || !this.takeStateDir()) return;
      clearInterval(this.lockTimer);
      this.log.info(`the state dir ${this.settings.stateDir} is free: shipping`);
      this.begin().catch((err) => this.log.error(`log shipper could not start: ${(err as Error).message}`, { code: (err as SwarmwatchError).code }));
    }, 1000);
    this.lockTimer.unref();
  }

  /** True when this process may use the state dir: its lock is ours, or locks are unavailable here (warned once). */
  private takeStateDir(): boolean {
    const attempt = tryLockFile(path.join(this.settings.stateDir, 'lock'));
    if ('held' in attempt) { this.lock = attempt.held; return true; }
    if ('busy' in attempt) return false;
    this.log.warn(`cannot lock the state dir ${this.settings.stateDir} (${attempt.unavailable}): make sure no other shipper uses it`);
    return true;
  }

  private async begin(): Promise<void> {
    let inFlight: InFlightWrite | undefined;
    try {
      const loaded = this.store.load();
      this.cursors = loaded.entries;
      this.fresh = loaded.fresh;
      inFlight = loaded.inFlight;
      this.begun = true;
    } catch (err) {
      throw new SwarmwatchError(SW_ERR_SHIPPER_CURSOR_READ, `cannot read the cursor files in ${this.store.dir}: ${(err as Error).message}`, {
        culprit: this.store.dir, fix: 'repair or remove cursors.json, cursors-a and cursors-b there (removing them re-ships every container\'s log from the start)', cause: err,
      });
    }
    if (inFlight) {
      this.reportUncleanStop(inFlight);
      // Said and counted once: a second kill before the next write must not announce the same lines again.
      this.store.withdraw();
    }
    this.selfId = ownContainerId();
    this.stopRaisingCpuWeight = keepRaisingOwnCpuWeight(this.settings.cpuWeight, { docker: this.ctx.state.docker, selfId: this.selfId }, (o, n) => this.reportCpuWeight(o, n), this.ctx.state);
    const hooks: TransportHooks = {
      onReconnect: () => this.metrics.reconnects.inc(),
      onTruncated: (reason) => this.metrics.truncated.inc({ reason }),
    };
    this.transport = createTransport(this.settings, hooks, this.log);
    this.sender = new Sender(this.queue, this.transport, this.store, this.cursors, this.metrics, this.log, {
      batchBytes: this.settings.batchBytes, batchWaitMs: this.settings.batchWaitMs, reconnectMaxDelayMs: this.settings.reconnectMaxDelayMs, replayWindowMs: 1000, replayMaxBytes: 4 * 1048576,
    });
    this.sender.start();
    this.resumeKeptLogs();
    this.ctx.state.on('containers', this.onContainers);
    this.ctx.state.on('container-event', this.onContainerEvent);
    this.expiryTimer = setInterval(() => { this.expireCursors(); this.readOrphanedLogs(); this.early.expire(); this.expireStartSeen(); }, 60_000);
    this.expiryTimer.unref();
    this.log.info(`shipping container logs to ${this.settings.destination.url}`, { cursors: this.cursors.size, stateDir: this.settings.stateDir, self: this.selfId?.slice(0, 12) });
    this.sync();
  }

  /**
   * The previous run died (kill -9, an out-of-memory kill, a crash) with a write announced and not committed: its
   * lines go out again, and the destination may have received some of them already. GELF has no acknowledgement to
   * tell; the warning names what may be there twice, and the counter counts it.
   */
  private reportUncleanStop(w: InFlightWrite): void {
    this.metrics.resentLines.inc({ reason: 'unclean_stop' }, w.lines);
    // A container whose lines before the write were committed in part of the same batch may have none left in it.
    const moved = w.containers.filter((c) => { const from = this.cursors.get(c.id)?.cursor; return !from || compareCursor(from, c.to) < 0; });
    const named = moved.slice(0, 3).map((c) => {
      const from = this.cursors.get(c.id)?.cursor;
      return `${c.name || c.id.slice(0, 12)} after ${from ? engineTimeText(from.time) : 'its start'} up to ${engineTimeText(c.to.time)}`;
    });
    const more = moved.length > 3 ? ` and ${moved.length - 3} more containers` : '';
    this.log.warn(`the previous run ended without a clean stop (kill -9, out of memory, a crash) while writing ${w.lines} lines to the destination: they are sent again, and the destination may already have some of them${named.length > 0 ? `: ${named.join('; ')}${more}` : ''}`, { code: SW_ERR_SHIPPER_UNCLEAN_STOP, lines: w.lines });
  }

  private reportCpuWeight(outcome: OwnCpuWeightOutcome, attempt: number): void {
    const after = attempt > 1 ? ` (try ${attempt}: the engine answers again)` : '';
    if (outcome.set === 'container') this.log.info(`CPU weight of this container raised to ${this.settings.cpuWeight}x a container's default (CpuShares ${outcome.cpuShares}), so a burst of logging containers does not starve the shipper${after}`, { container: outcome.id.slice(0, 12) });
    else if (outcome.set === 'cgroup') this.log.info(`CPU weight of this process's cgroup raised to ${this.settings.cpuWeight}x a container's default (${outcome.file} = ${outcome.value})`);
    else if (this.settings.cpuWeight > 1 && attempt === 1) {
      // In a container the engine call should work: its failure is worth a warning. On a host it is often a login session.
      const again = outcome.retry ? '; trying again once the engine answers' : '';
      const line = `CPU weight not raised (shipper.cpu-weight=${this.settings.cpuWeight}): ${outcome.why}${again}; a burst of logging containers may leave the shipper behind (set shipper.cpu-weight=1 to silence this)`;
      if (this.selfId) this.log.warn(line, { code: SW_ERR_SHIPPER_CPU_WEIGHT }); else this.log.info(line);
    }
  }

  private messageContext(): MessageContext {
    const s = this.settings;
    const node = this.ctx.state.localNode;
    return {
      host: s.hostname ?? this.ctx.hostname(),
      nodeId: node?.swarm.nodeId ?? '',
      nodeHostname: node?.engine.hostname ?? this.ctx.hostname(),
      tagTemplate: s.tagTemplate, labels: s.labels, labelsRegex: s.labelsRegex, env: s.env, envRegex: s.envRegex,
    };
  }

  private encoderFor(c: ContainerRecord): { encoder: GelfEncoder; origin: MessageOrigin } {
    const cached = this.encoders.get(c.id);
    // The state model replaces a record when it changes (rename, restart): rebuild the static fields then.
    if (cached && cached.record === c) return cached;
    // A renamed container's lag goes on under its new name; the old name's series would stay for good.
    if (cached && cached.record.name !== c.name) this.metrics.lag.remove({ container_name: cached.record.name, service: cached.origin.service });
    const mc = this.messageContext();
    const entry = { record: c, encoder: new GelfEncoder(containerFields(c, mc), mc.host), origin: { containerId: c.id, containerName: c.name, service: c.swarm.serviceName ?? '' } };
    this.encoders.set(c.id, entry);
    return entry;
  }

  private deliver(record: LogRecord, c: ContainerRecord): boolean {
    const { encoder, origin } = this.encoderFor(c);
    const json = encoder.encode(bodyOf(record));
    if (record.truncatedFromBytes !== undefined) this.metrics.truncated.inc({ reason: 'max_message_size' });
    const m: OutMessage = {
      ...origin,
      json, data: undefined, slab: undefined, at: 0, bytes: Buffer.byteLength(json), lines: 1, tailId: encoder.tailId, tailBytes: encoder.tailBytes, time: record.time, cursor: record.cursor,
      shrink: (max) => encoder.encode(bodyOf(record, max)),
    };
    return this.queue.push(m);
  }

  /** Where messages encoded as bytes are written. */
  private readonly arena = new MessageArena();

  /**
   * A one-line record whose text is still JSON-escaped in the json-file read buffer (`src[start, end)`): written
   * as bytes into the arena, with no string, record or closure made per line (ContainerReader.readFileOnce).
   */
  private deliverEscaped(src: Buffer, start: number, end: number, stream: StreamName, time: EngineTime, cursor: Cursor, c: ContainerRecord): boolean {
    const { encoder, origin } = this.encoderFor(c);
    return this.queue.push(arenaMessage(this.arena, encoder, origin, src, start, end, levelOf(stream), time, cursor));
  }

  private acquireCatchUp(): Promise<() => void> {
    const release = () => {
      const next = this.catchUpWaiters.shift();
      if (next) next();
      else this.catchUpFree++;
    };
    if (this.catchUpFree > 0) {
      this.catchUpFree--;
      return Promise.resolve(release);
    }
    return new Promise((resolve) => this.catchUpWaiters.push(() => resolve(release)));
  }

  private startCursor(c: ContainerRecord): Cursor | undefined {
    const known = this.cursors.get(c.id);
    if (known) return known.cursor;
    // First start on this node with initial-position=end: existing containers start from now, new ones from their start.
    if (this.fresh && this.settings.initialPosition === 'end') return { time: nowEngineTime(), count: 0 };
    return undefined;
  }

  /** Opens readers for new containers, wakes idle ones that run again, notes removed ones. */
  private sync(): void {
    if (this.stopped) return;
    this.watchContainersDir();
    const state = this.ctx.state;
    for (const c of state.containers.values()) {
      const reader = this.readers.get(c.id);
      if (reader) {
        reader.noticeChange(c);
        continue;
      }
      // Removed, and its record came back from an inspect that answered late: its reader is finishing the log.
      if (this.finishing.has(c.id)) continue;
      if (!shouldShip(c, this.settings, this.selfId)) {
        this.early.release(c.id);
        this.startSeen.delete(c.id);
        continue;
      }
      this.openReader(c);
    }
    for (const [id, reader] of this.readers) {
      if (!state.containers.has(id)) this.removeContainer(id, reader);
    }
    if (state.engine.up) {
      for (const [id, e] of this.cursors) if (!state.containers.has(id) && !e.removedAt) e.removedAt = Date.now();
      this.fresh = false;
    }
    this.countReaders();
  }

  private openReader(c: ContainerRecord, known = true): ContainerReader {
    const s = this.settings;
    const reader = new ContainerReader(c.id, this.startCursor(c), {
      docker: this.ctx.state.docker,
      log: this.log,
      container: known ? () => this.ctx.state.containers.get(c.id) : () => undefined,
      maxBytes: s.maxMessageBytes,
      multiline: s.multilinePattern,
      multilineTimeoutMs: s.multilineTimeoutMs,
      deliver: (record, current) => this.deliver(record, current),
      deliverEscaped: (src, start, end, stream, time, cursor, current) => this.deliverEscaped(src, start, end, stream, time, cursor, current),
      drained: () => new Promise<void>((resolve) => { if (!this.queue.full) resolve(); else this.queue.once('drain', resolve); }),
      onDropped: (reason, n = 1) => this.metrics.dropped.inc({ reason }, n),
      onLogCut: () => this.metrics.logCuts.inc(),
      acquireCatchUp: () => this.acquireCatchUp(),
      batchWaiting: () => this.sender?.batchWaiting ?? false,
      logFileOf: (rec) => (this.spooled.has(rec.id) ? this.spool.logPathOf(rec.id) : s.readMode === 'file' ? this.logFileOf(rec) : undefined),
      delivered: (position) => {
        const committed = this.cursors.get(c.id);
        return committed !== undefined && compareCursor(committed.cursor, position) >= 0;
      },
      takeOpenedLog: () => this.early.takeLog(c.id),
      readsKeptCopy: () => this.spooled.has(c.id),
    });
    if (known) {
      this.readers.set(c.id, reader);
      reader.start();
    }
    return reader;
  }

  /** json-file path as seen from here, if readable; other drivers (and unreadable files) go through the API. */
  private logFileOf(c: ContainerRecord): string | undefined {
    if (c.logDriver !== 'json-file') return undefined;
    const root = this.containersDir();
    if (!root) return undefined;
    const file = path.join(root, c.id, `${c.id}-json.log`);
    // Opened at its start event: readable whether or not the engine has removed it since.
    if (this.early.has(c.id)) return file;
    try {
      fs.accessSync(file, fs.constants.R_OK);
      return file;
    } catch (err) {
      // Not created yet (the container has not started): the reader waits for it.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && fs.existsSync(path.dirname(file))) return file;
      // The engine's containers dir is here but this container's is not: it was removed (a `--rm` container gone
      // before its first read), not a missing mount. The API answers "no such container" and the reader ends.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && fs.existsSync(root)) return undefined;
      if (!this.fileModeWarned) this.log.warn(`read-mode file: cannot read ${file}; reading through the logs API instead (mount the engine's root dir and set shipper.docker-root)`);
      this.fileModeWarned = true;
      return undefined;
    }
  }

  private fileModeWarned = false;

  /** `<data-root>/containers` as seen from here, when the engine's root is known. */
  private containersDir(): string | undefined {
    const root = this.settings.dockerRoot ?? this.ctx.state.localNode?.engine.dockerRootDir;
    return root ? path.join(root, 'containers') : undefined;
  }

  /**
   * The container is gone. In read-mode file its reader reads what its open log file holds to the end first (the
   * engine unlinked the file; a `--rm` container's last lines are often still unread then, and always when the
   * destination is behind); in read-mode api the engine serves it no more.
   */
  private removeContainer(id: string, reader: ContainerReader): void {
    this.readers.delete(id);
    const e = this.cursors.get(id);
    if (e && !e.removedAt) e.removedAt = Date.now();
    const record = reader.record ?? this.encoders.get(id)?.record;
    if (this.settings.readMode === 'file' && record && this.finishing.size < this.settings.removedFilesMax) {
      this.finishRemoved(id, reader, record);
      return;
    }
    // Read-api mode, or read-mode file with as many removed logs kept open as allowed. Asked before the stop, which
    // closes the file: a reader stopped with the rest of a deleted log unread loses it.
    const fileMode = this.settings.readMode === 'file';
    const unread = fileMode ? reader.unreadLogBytes : 0;
    void reader.stop();
    if (record && (unread > 0 || this.neverRead(reader, record))) this.countMissed(record, fileMode ? unread : undefined);
    this.forgetContainer(id);
  }

  private finishRemoved(id: string, reader: ContainerReader, record: ContainerRecord): void {
    this.finishing.set(id, reader);
    reader.finish(record);
    // Started here, before `ended` is taken: a reader not started yet reports itself ended at once.
    reader.start();
    const removedAt = performance.now();
    // Looked at again every KEEP_RETRY_MS, not only at the removal: a reader that had read nothing then (started at
    // the destroy event, the engine's events late) fills the buffer a moment later, and was kept only at the second's
    // end; a kill -9 before that lost what it had not delivered.
    let keepTimer: NodeJS.Timeout | undefined;
    const look = () => {
      const waited = performance.now() - removedAt;
      const keepNow = waited >= KEEP_REMOVED_AFTER_MS || this.sender?.failing === true
        || reader.unreadLogBytes > KEEP_AT_ONCE_UNREAD_BYTES || this.queue.bytes >= this.settings.bufferBytes / 2;
      if (keepNow) this.keepRemovedLog(id, reader, removedAt);
      else keepTimer = setTimeout(look, Math.min(KEEP_RETRY_MS, KEEP_REMOVED_AFTER_MS - waited)).unref();
    };
    if (!this.spooled.has(id)) keepTimer = setTimeout(look, 0).unref();
    void reader.ended.then(() => {
      clearTimeout(keepTimer);
      if (!this.stopped && this.neverRead(reader, record)) this.countMissed(record);
      // Read and delivered to its end (a stop keeps the copy for the next start).
      if (!this.stopped && this.spooled.delete(id)) this.spool.drop(id);
      this.finishing.delete(id);
      this.forgetContainer(id);
      this.countReaders();
    });
  }

  /** A removed container that ran and that no reader (of this or an earlier run) ever opened the log of. */
  private neverRead(reader: ContainerReader, c: ContainerRecord): boolean {
    return !reader.openedLog && !this.cursors.has(c.id) && (c.startedAt !== undefined || this.startSeen.has(c.id));
  }

  /** Drops what was kept for a container that is gone: its message fields, lag series, a file held for it. */
  private forgetContainer(id: string): void {
    const enc = this.encoders.get(id);
    if (enc) this.metrics.lag.remove({ container_name: enc.record.name, service: enc.record.swarm.serviceName ?? '' });
    this.encoders.delete(id);
    this.early.release(id);
    this.startSeen.delete(id);
  }

  private containerEvent(ev: RawEvent): void {
    const id = ev.Actor?.ID ?? ev.id ?? '';
    const action = ev.Action.split(':')[0];
    if (action === 'start' || action === 'restart') {
      const reader = this.readers.get(id);
      if (reader) reader.wake();
      // A new container is opened by sync() once the state model has inspected it; its log file is held from now.
      if (action === 'start' && id && !reader?.open && !this.finishing.has(id)) this.noticeStart(id, ev);
    } else if (action === 'destroy') {
      const reader = this.readers.get(id);
      if (reader) this.removeContainer(id, reader);
      else if (!this.finishing.has(id)) this.removedUnread(id, ev.Actor?.Attributes ?? {});
    }
  }

  /**
   * Read-mode file: holds a container's log the moment the engine creates it (ContainersDirWatch), ahead of its
   * start event, which comes late in a burst; started once the engine's root dir is known.
   */
  private watchContainersDir(): void {
    if (this.dirWatch || this.settings.readMode !== 'file') return;
    const dir = this.containersDir();
    if (!dir) return;
    this.dirWatch = new ContainersDirWatch(dir, (id) => {
      if (!this.stopped && !this.readers.get(id)?.open && !this.finishing.has(id)) this.early.hold(dir, id, {});
    }, (err) => this.log.warn(`cannot watch ${dir} for new containers: ${err.message}; a --rm container's log is held from its start event only, which comes late in a burst of starts (raise sysctl fs.inotify.max_user_watches if the limit was reached; the shipper's next start sets the watch again)`),
    undefined, undefined, (id) => this.readOrphanedLog(id));
    this.dirWatch.start();
  }

  private dirWatch?: ContainersDirWatch;

  /**
   * A container removed whose log is held and that nothing else took: read to its end as at its destroy event. Its
   * events can be missed (an events stream the engine subscribed late, or one lost and replayed past what the engine
   * keeps), and no listing shows a container created and removed between two: its held log was let go unread a
   * minute later (EarlyLogFiles.expire), neither shipped nor counted (2 of 20 `--rm` jobs with the engine
   * overloaded).
   */
  private readOrphanedLog(id: string): void {
    if (this.stopped || !this.early.has(id) || this.readers.has(id) || this.finishing.has(id)) return;
    this.removedUnread(id, {});
  }

  /** Held logs whose container is gone and that nothing took (the dir watch saw no removal: it broke or was not set). */
  private readOrphanedLogs(): void {
    const dir = this.containersDir();
    if (!dir) return;
    for (const id of this.early.ids()) if (!fs.existsSync(path.join(dir, id))) this.readOrphanedLog(id);
  }

  /** A container started with no reader on its log yet: hold its files (read-mode file) until one takes them. */
  private noticeStart(id: string, ev: RawEvent): void {
    this.startSeen.set(id, Date.now());
    const dir = this.settings.readMode === 'file' ? this.containersDir() : undefined;
    if (dir) this.early.hold(dir, id, ev.Actor?.Attributes ?? {});
  }

  /**
   * A container removed with no reader on it. Its files held since its start are read to the end under a record
   * from its config; one that started and was never read, with nothing held, is counted and warned about.
   * `attributes`: the destroy event's (labels, name, image); none when the removal was seen in the containers dir.
   */
  private removedUnread(id: string, attributes: Record<string, string>): void {
    const started = this.startSeen.delete(id);
    const record = this.early.recordOf(id);
    if (record) {
      if (!shouldShip(record, this.settings, this.selfId)) { this.early.release(id); return; }
      if (this.finishing.size >= this.settings.removedFilesMax) {
        this.early.release(id);
        this.countMissed(record, 0);
        return;
      }
      const reader = this.openReader(record, false);
      this.finishRemoved(id, reader, record);
      this.countReaders();
      return;
    }
    if (!started || this.cursors.has(id)) return;
    const described = recordFromAttributes(id, attributes);
    if (shouldShip(described, this.settings, this.selfId)) this.countMissed(described);
  }

  /**
   * A container that ran and was removed before its log was read (before any reader opened it, or with its rest
   * unread when no more deleted files may be kept open): counted, warned about.
   */
  private countMissed(c: ContainerRecord, unreadBytes?: number): void {
    this.metrics.dropped.inc({ reason: 'removed_before_read' });
    if (!this.missedWarning.take()) return;
    const why = unreadBytes !== undefined
      ? `container ${c.name} was removed with ${unreadBytes > 0 ? `${unreadBytes} bytes of its log` : 'its log'} unread while the log files of ${this.finishing.size} removed containers were already kept open to be read (shipper.removed-files-max: raise it, or bring the destination back); its unread lines are not shipped`
      : `container ${c.name} was removed before its log was read: ${this.settings.readMode === 'file'
        ? 'its log file was gone before the shipper could open it'
        : 'read-mode api cannot read a removed container\'s log (read-mode file keeps a log it has opened)'}; lines it wrote are not shipped`;
    this.log.warn(`${why} (counted in swarmwatch_shipper_dropped_total{reason="removed_before_read"}; warned at most once a minute)`, { container: c.id.slice(0, 12) });
  }

  private readonly missedWarning = new LogThrottle();

  private countReaders(): void {
    this.metrics.readers.set(this.readers.size + this.finishing.size);
  }

  private expireStartSeen(): void {
    const old = Date.now() - 10 * 60_000;
    for (const [id, at] of this.startSeen) if (at < old) this.startSeen.delete(id);
  }

  private expireCursors(): void {
    const now = Date.now();
    for (const [id, e] of this.cursors) {
      if (e.removedAt && now - e.removedAt > this.settings.cursorExpiryMs && !this.ctx.state.containers.has(id) && !this.spooled.has(id)) this.cursors.delete(id);
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const deadline = (this.stopDeadline = performance.now() + this.settings.stopTimeoutMs);
    const timeLeft = () => Math.max(0, deadline - performance.now());
    clearInterval(this.lockTimer);
    // Still waiting for the state dir, or its cursors failed to load: nothing to write.
    if (!this.begun) return;
    this.ctx.state.off('containers', this.onContainers);
    this.ctx.state.off('container-event', this.onContainerEvent);
    clearInterval(this.expiryTimer);
    this.stopRaisingCpuWeight?.();
    // Live containers are read on from their cursors after a restart. A removed container's open file is the only copy
    // of what its reader has not read yet (the engine unlinked it): those readers get a part of the stop's grace. So
    // do the readers of `--rm` containers that exited: the engine removes them in a moment, maybe before the restart.
    for (const [id, reader] of this.readers) {
      const c = this.ctx.state.containers.get(id);
      if (!c?.autoRemove || runningStates.has(c.state)) continue;
      this.readers.delete(id);
      this.finishRemoved(id, reader, c);
    }
    await Promise.all([...this.readers.values()].map((r) => r.stop()));
    this.readers.clear();
    if (this.finishing.size > 0) await settledWithin([...this.finishing.values()].map((r) => r.ended), Math.min(FINISH_GRACE_MS, timeLeft()));
    await this.keepUnfinishedLogs();
    await Promise.all([...this.finishing.values()].map((r) => r.stop()));
    this.finishing.clear();
    this.dirWatch?.close();
    this.early.closeAll();
    await this.sender?.stop(Math.min(STOP_GRACE_MS, timeLeft()));
    await this.transport?.close();
    this.reportNotKept();
    this.reportLostOfRemoved();
    this.expireCursors();
    this.cursorWriteWarning.reset();
    await this.store.idle();
    this.store.writeNow(this.cursors);
    this.store.close();
    this.lock?.release();
    this.log.info('log shipper stopped', { undelivered: this.queue.length });
  }

  private readonly cursorWriteWarning = new LogThrottle();

  private stopTimeIsUp(): boolean {
    return this.stopDeadline !== undefined && performance.now() >= this.stopDeadline;
  }

  /**
   * The stop's time ran out while removed containers' logs were copied into the state dir, or a reader had not opened
   * its log yet: what it left out is lost (their engine files are gone), said with the names and the fix.
   */
  private reportNotKept(): void {
    const cut = this.notKeptAtStop;
    if (cut.length === 0) return;
    const bytes = cut.reduce((n, c) => n + (c.bytes ?? 0), 0);
    const named = cut.slice(0, 10).map((c) => `${c.name} (${c.bytes === undefined ? 'not read yet' : `${c.bytes} bytes`})`).join(', ');
    this.log.error(`the stop kept the logs of removed containers not delivered to their end in ${this.spool.dir} only in part (its time, shipper.stop-timeout ${this.settings.stopTimeoutMs} ms, ran out, or a reader had not opened its log yet): ${bytes} bytes of ${cut.length} of them were not kept and are lost, their engine files being gone: ${named}${cut.length > 10 ? ', …' : ''}; what was kept is shipped at the next start (raise shipper.stop-timeout, and the time the container is given to stop above it: docker stop -t, the stack's stop_grace_period)`, { code: SW_ERR_SHIPPER_LOST_AT_STOP });
  }

  /**
   * After the stop's grace: lines still queued are read again from their containers' cursors at the next start, except
   * those of removed containers whose logs were not kept (read-mode api, or beyond shipper.removed-files-max): said,
   * not silently gone.
   */
  private reportLostOfRemoved(): void {
    const lost = [...this.queue.linesByContainer()].filter(([id]) => !this.ctx.state.containers.has(id) && !this.spooled.has(id));
    if (lost.length === 0) return;
    const lines = lost.reduce((n, [, c]) => n + c.lines, 0);
    const named = lost.slice(0, 10).map(([, c]) => `${c.name} (${c.lines})`).join(', ');
    this.log.error(`${lines} lines of ${lost.length} removed containers were not delivered before the stop and are lost, their logs being gone with them: ${named}${lost.length > 10 ? ', …' : ''} (the destination was down or behind; ${this.settings.readMode === 'file' ? 'raise shipper.removed-files-max to keep more removed logs' : 'read-mode file keeps removed containers\' logs'})`, { code: SW_ERR_SHIPPER_LOST_AT_STOP });
  }

  /**
   * At a stop: removed containers whose logs are not read or not delivered to their end yet (the destination is down
   * or behind) are copied into the state dir from their open files, from their cursors on; the sender's grace that
   * follows may deliver more of them, which the cursor then skips at the next start.
   */
  private async keepUnfinishedLogs(): Promise<void> {
    let kept = 0;
    let bytes = 0;
    let before = 0;
    // The run's copies under way finish first (they are not cancelled by the stop).
    await Promise.all(this.copying.values());
    for (const [id, reader] of this.finishing) {
      // Kept while running (a removed container's log does not change): that copy holds it all.
      if (this.spooled.has(id)) { before++; continue; }
      // A reader that has not opened its log yet has nothing to copy: its log is lost with the stop, named like one
      // the stop had no time for.
      if (this.stopTimeIsUp() || !reader.readsFile) {
        // Read but undelivered lines are named by reportLostOfRemoved (from the queue); these are the unread ones.
        const unread = reader.unreadLogBytes;
        if (!reader.readsFile) this.notKeptAtStop.push({ name: reader.record?.name ?? id.slice(0, 12) });
        else if (unread > 0) this.notKeptAtStop.push({ name: reader.record?.name ?? id.slice(0, 12), bytes: unread });
        continue;
      }
      try {
        const copied = await this.keepLog(id, reader, () => false);
        if (copied === undefined) continue;
        kept++;
        bytes += copied.bytes;
      } catch (err) {
        this.metrics.dropped.inc({ reason: 'removed_before_read' });
        this.log.error(`cannot keep the log of removed container ${reader.record?.name} in ${this.spool.dir}: ${(err as Error).message}; what was not delivered of it is lost (counted in swarmwatch_shipper_dropped_total{reason="removed_before_read"}; free space or fix the state dir's disk)`, { container: id.slice(0, 12) });
      }
    }
    if (kept + before > 0) this.log.info(`kept the logs of ${kept + before} removed containers that were not delivered to their end in ${this.spool.dir} (${kept} copied at this stop, ${bytes} bytes; ${before} kept before it): the next start ships them`);
  }

  /**
   * Copies a removed container's log into the spool from its reader's open files; undefined: nothing to keep, or
   * `cancelled` said so during the copy. A copy still under way when a stop's time is up keeps the whole lines it
   * holds (the oldest undelivered: the copy follows the log's order); the rest is named by reportNotKept.
   */
  private async keepLog(id: string, reader: ContainerReader, cancelled: () => boolean): Promise<CopiedLog | undefined> {
    const record = reader.record;
    if (!record) return undefined;
    const copied = await this.spool.save(record, (dest) => reader.copyLogTo(dest, this.cursors.get(id)?.cursor, cancelled, () => this.stopTimeIsUp()));
    if (copied === undefined) return undefined;
    // Delivered to its end in the turns between the rename and here: the copy is not needed.
    if (cancelled()) {
      this.spool.drop(id);
      return undefined;
    }
    this.spooled.add(id);
    if (copied.left > 0) this.notKeptAtStop.push({ name: record.name, bytes: copied.left });
    return copied;
  }

  /**
   * KEEP_REMOVED_AFTER_MS after a removal (at once while deliveries fail, much of the log is unread or the memory
   * buffer is half full), the reader is still not done: its log is copied into the state dir now, which a kill -9
   * leaves in place (the engine's file is gone with the process's descriptor). The copy is dropped when the reader
   * has delivered the log to its end.
   */
  private keepRemovedLog(id: string, reader: ContainerReader, removedAt: number): void {
    if (this.stopped || this.spooled.has(id) || this.copying.has(id) || this.finishing.get(id) !== reader) return;
    if (!reader.readsFile) {
      setTimeout(() => this.keepRemovedLog(id, reader, removedAt), KEEP_RETRY_MS).unref();
      return;
    }
    const started = performance.now();
    // Cancelled when the reader has delivered the log to its end meanwhile (it left `finishing`); not by a stop,
    // which waits for it.
    const copy = this.keepLog(id, reader, () => this.finishing.get(id) !== reader).then((copied) => {
      if (copied !== undefined) this.log.info(`removed container ${reader.record?.name} is not delivered to its end yet: kept a copy of its log in ${this.spool.dir} ${Math.round(started - removedAt)} ms after its removal (${copied.bytes} bytes${copied.left > 0 ? `, cut by the stop's timeout with ${copied.left} bytes left` : ''}, ${Math.round(performance.now() - started)} ms), shipped from there if the shipper restarts first`, { container: id.slice(0, 12) });
    }, (err: unknown) => {
      // The reader goes on from its open file; only a kill -9 before it is delivered would lose it. A stop tries again.
      // A full disk fails every removal's copy: one warning a minute.
      if (!this.keepWarning.take()) return;
      this.log.warn(`cannot keep a copy of the log of removed container ${reader.record?.name} in ${this.spool.dir}: ${(err as Error).message}; it is still shipped from its open file, but a kill -9 before that is done would lose it (free space or fix the state dir's disk; warned at most once a minute)`, { container: id.slice(0, 12) });
    }).finally(() => this.copying.delete(id));
    this.copying.set(id, copy);
  }

  private readonly keepWarning = new LogThrottle();

  /**
   * At a start: the removed containers' logs kept before it (by a stop, or by a run that was killed) are read from
   * their cursors, then deleted.
   */
  private resumeKeptLogs(): void {
    for (const kept of this.spool.list((message) => this.log.warn(message))) {
      this.spooled.add(kept.id);
      const reader = this.openReader(kept.record, false);
      this.finishRemoved(kept.id, reader, kept.record);
    }
    if (this.spooled.size > 0) this.log.info(`shipping the logs of ${this.spooled.size} removed containers kept before this start in ${this.spool.dir}`);
    this.countReaders();
  }

  /**
   * A cursor file could not be written (a full or failing disk): delivery goes on, counted each time, logged at
   * most once a minute (and always at stop) since a commit follows every batch.
   */
  private cursorWriteFailed(err: Error): void {
    this.metrics.cursorWriteErrors.inc();
    if (!this.cursorWriteWarning.take()) return;
    this.log.error(`cannot write the cursor files in ${this.store.dir}: ${(err as NodeJS.ErrnoException).code ?? err.message}; lines delivered now may be sent again after a restart (free space or fix the disk there)`, { code: SW_ERR_SHIPPER_CURSOR_WRITE });
  }
}
