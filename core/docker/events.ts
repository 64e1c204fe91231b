import type { Readable } from 'node:stream';
import type { Logger } from '../log.js';
import { asSwarmwatchError, type SwarmwatchError } from '../errors.js';
import type { DockerAccess } from './access.js';
import type { RawEvent } from './types.js';

export interface EventFollowerHandlers {
  onEvent(ev: RawEvent): void;
  /** Called once per transition: connected=true after (re)connecting, false when the stream is lost. */
  onConnection(connected: boolean, err?: SwarmwatchError): void;
}

/**
 * How far before the newest event seen a replay starts. The engine stamps an event before it takes the lock that
 * publishes it, so concurrent events arrive slightly out of time order (3 of 300 events of a burst of 50 `docker
 * run`s here; more under load): a replay from exactly the newest time would skip one published after it.
 */
const REPLAY_MARGIN_NS = 2_000_000_000n;
/** Events remembered for recognising a replay's repeats: those within REPLAY_MARGIN_NS of the newest, at most this many. */
const MAX_REMEMBERED = 4096;
/** The remembered events are pruned to the margin once there are this many (and again at twice what is left). */
const PRUNE_FROM = 256;

/**
 * Follows GET /events forever: reconnects with exponential backoff and replays from shortly before the newest
 * event seen (`since`, the engine keeps 256), so a dropped stream loses nothing that the engine still remembers;
 * the replay's repeats are recognised and dropped. An event older than one before it is delivered: the engine
 * sends them so (see REPLAY_MARGIN_NS); dropped as repeats, a burst of container starts lost some of its start
 * and destroy events, and the log shipper never saw those containers.
 */
export class EventFollower {
  private stream?: Readable;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  /** The newest event time seen (replays start REPLAY_MARGIN_NS before it). */
  private lastTimeNano?: bigint;
  /** Events seen within REPLAY_MARGIN_NS of the newest, by identity, with their times. */
  private readonly remembered = new Map<string, bigint>();
  private backoffMs = 500;
  private connected = false;

  constructor(private readonly docker: DockerAccess, private readonly handlers: EventFollowerHandlers, private readonly log: Logger, private readonly maxBackoffMs = 15_000) {}

  start(): void {
    this.startedAtNano ??= BigInt(Date.now()) * 1_000_000n;
    void this.connect();
  }

  /**
   * When the follower started. The first request asks from REPLAY_MARGIN_NS before it as well: a busy engine can take
   * seconds to subscribe a new events request, and what happened meanwhile was lost (with a reconciliation that
   * listed containers before it, a short `--rm` job created and removed in that gap was seen by nothing: its log
   * was never shipped, nor counted).
   */
  private startedAtNano?: bigint;

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stream?.destroy();
  }

  private since(): string | undefined {
    const newest = this.lastTimeNano ?? this.startedAtNano;
    if (newest === undefined) return undefined;
    const from = newest > REPLAY_MARGIN_NS ? newest - REPLAY_MARGIN_NS : 0n;
    const s = from / 1_000_000_000n;
    const ns = from % 1_000_000_000n;
    return `${s}.${ns.toString().padStart(9, '0')}`;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    try {
      const since = this.since();
      const stream = await this.docker.events(since);
      if (this.stopped) { stream.destroy(); return; }
      this.stream = stream;
      this.backoffMs = 500;
      this.setConnected(true);
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) this.dispatch(line);
        }
      });
      const lost = (err?: unknown) => {
        if (this.stream !== stream) return;
        this.stream = undefined;
        if (this.stopped) return;
        this.setConnected(false, err ? asSwarmwatchError(err) : undefined);
        this.schedule();
      };
      stream.on('end', () => lost());
      stream.on('close', () => lost());
      stream.on('error', (err) => lost(err));
    } catch (err) {
      this.setConnected(false, asSwarmwatchError(err));
      this.schedule();
    }
  }

  private dispatch(line: string): void {
    let ev: RawEvent;
    try {
      ev = JSON.parse(line) as RawEvent;
    } catch {
      this.log.warn('ignored an events-stream line that is not JSON', { line: line.slice(0, 200) });
      return;
    }
    // timeNano exceeds 2^53; read it from the text so the replay cursor keeps nanosecond precision.
    const nano = /"timeNano":(\d+)/.exec(line)?.[1];
    if (nano !== undefined && !this.isNew(BigInt(nano), `${nano} ${ev.Type} ${ev.Action} ${ev.Actor?.ID ?? ev.id ?? ''}`)) return;
    try {
      this.handlers.onEvent(ev);
    } catch (err) {
      this.log.error('event handler failed', { error: (err as Error).message, type: ev.Type, action: ev.Action });
    }
  }

  /** False for an event seen before (a replay's repeat); remembers it otherwise. */
  private isNew(t: bigint, key: string): boolean {
    if (this.remembered.has(key)) return false;
    // Older than anything a replay can bring again, and not remembered: seen and forgotten long ago.
    if (this.forgotBefore !== undefined && t < this.forgotBefore) return false;
    this.remembered.set(key, t);
    if (this.lastTimeNano === undefined || t > this.lastTimeNano) this.lastTimeNano = t;
    if (this.remembered.size > this.pruneAt) {
      this.forget();
      this.pruneAt = Math.max(PRUNE_FROM, this.remembered.size * 2);
    }
    return true;
  }

  /** Every remembered event is newer than this: an older one that is not remembered was forgotten, not unseen. */
  private forgotBefore?: bigint;
  private pruneAt = PRUNE_FROM;

  private forget(): void {
    const horizon = this.lastTimeNano! - REPLAY_MARGIN_NS;
    for (const [key, t] of this.remembered) if (t < horizon) this.remembered.delete(key);
    // Still too many within the margin (a flood of events): forget the oldest half.
    if (this.remembered.size > MAX_REMEMBERED) {
      const times = [...this.remembered.values()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const cut = times[Math.floor(times.length / 2)]!;
      for (const [key, t] of this.remembered) if (t < cut) this.remembered.delete(key);
      this.forgotBefore = cut;
    } else {
      this.forgotBefore = horizon;
    }
  }

  private setConnected(connected: boolean, err?: SwarmwatchError): void {
    if (this.connected === connected) return;
    this.connected = connected;
    this.handlers.onConnection(connected, err);
  }

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.connect(), this.backoffMs);
    this.timer.unref();
    this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
  }
}
