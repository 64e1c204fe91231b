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
 * Follows GET /events forever: reconnects with exponential backoff and replays from the last event seen
 * (`since`, the engine keeps 256), so a dropped stream loses nothing that the engine still remembers.
 */
export class EventFollower {
  private stream?: Readable;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private lastTimeNano?: bigint;
  private backoffMs = 500;
  private connected = false;

  constructor(private readonly docker: DockerAccess, private readonly handlers: EventFollowerHandlers, private readonly log: Logger, private readonly maxBackoffMs = 15_000) {}

  start(): void {
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stream?.destroy();
  }

  private since(): string | undefined {
    if (this.lastTimeNano === undefined) return undefined;
    const s = this.lastTimeNano / 1_000_000_000n;
    const ns = this.lastTimeNano % 1_000_000_000n;
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
    if (nano !== undefined) {
      const t = BigInt(nano);
      // Replay with since is inclusive: older events were already handled; equal ones may repeat, handlers are idempotent.
      if (this.lastTimeNano !== undefined && t < this.lastTimeNano) return;
      this.lastTimeNano = t;
    }
    try {
      this.handlers.onEvent(ev);
    } catch (err) {
      this.log.error('event handler failed', { error: (err as Error).message, type: ev.Type, action: ev.Action });
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
