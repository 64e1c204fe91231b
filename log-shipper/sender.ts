import { asSwarmwatchError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { CursorEntry, CursorStore, PreparedCursors } from './cursor-store.js';
import { MessageArena } from './message-arena.js';
import type { ShipperMetrics } from './metrics.js';
import type { DeliveryQueue, OutMessage } from './queue.js';
import { toSeconds } from './timestamp.js';
import type { Transport } from './transport/transport.js';

export interface SenderOptions {
  batchBytes: number;
  /**
   * A batch of less than half `batchBytes` that follows another such batch leaves at most once per this many ms (the
   * first after a quiet spell, and the tail of a burst, at once): a steady trickle from many containers goes out in
   * a few writes and cursor commits, not one per line.
   */
  batchWaitMs: number;
  reconnectMaxDelayMs: number;
  /**
   * After a stream connection breaks, batches delivered this recently are sent again: the kernel accepted them,
   * but a receiver that died may never have read them. Trades a few duplicates for no loss.
   */
  replayWindowMs: number;
  /**
   * At most this many message bytes are kept for that replay: at catch-up speed one second is ≈ 100,000 messages
   * (≈ 115 MB of heap), far more than a receiver's socket buffers can have swallowed (Linux: ≤ 6 MiB by default).
   */
  replayMaxBytes: number;
}

/**
 * Moves batches from the queue to the transport, one at a time, and commits cursors only for delivered messages.
 * Order per batch: serialize the next cursor state, send, commit it (one small journal write, CursorStore) in the same
 * tick as the kernel takes the batch; when the kernel takes only part of it, the messages it holds whole are
 * committed right away. A kill between a write syscall and that commit can repeat what that syscall carried; a
 * kill before it loses nothing.
 */
export class Sender {
  private stopped = false;
  private running?: Promise<void>;
  private wake?: () => void;
  private failingSince?: number;
  private recent: { at: number; bytes: number; batch: readonly OutMessage[] }[] = [];
  private recentBytes = 0;
  /** When the last batch was taken (Date.now()), and whether it held less than half of batchBytes. */
  private lastBatchAt = 0;
  private lastBatchSmall = true;

  constructor(
    private readonly queue: DeliveryQueue,
    private readonly transport: Transport,
    private readonly store: CursorStore,
    /** The committed cursors: updated in place only after delivery. */
    private readonly cursors: Map<string, CursorEntry>,
    private readonly metrics: ShipperMetrics,
    private readonly log: Logger,
    private readonly opts: SenderOptions,
  ) {}

  /** Below this a batch is small: it waits for more lines (batchWaitMs) or one event-loop turn. */
  private get halfBatch(): number {
    return this.opts.batchBytes / 2;
  }

  start(): void {
    this.queue.readyBytes = this.halfBatch;
    this.queue.on('data', () => this.wake?.());
    // Half a batch queued while the sender waits out batchWaitMs: it goes now.
    this.queue.on('ready', () => this.wake?.());
    this.running ??= this.loop();
  }

  /** Delivers what is queued for up to `graceMs`, then stops; cursors stay at what was delivered. */
  async stop(graceMs: number): Promise<void> {
    const deadline = Date.now() + graceMs;
    while (this.queue.length > 0 && Date.now() < deadline && this.failingSince === undefined) {
      await new Promise((r) => setTimeout(r, 20));
    }
    this.stopped = true;
    this.wake?.();
    await this.running;
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() { clearTimeout(t); resolve(); }
      this.wake = done;
    });
  }

  private async loop(): Promise<void> {
    let delay = 250;
    while (!this.stopped) {
      if (this.queue.length === 0) {
        this.idle = true;
        await this.pause(1000);
        continue;
      }
      if (this.queue.bytes < this.halfBatch) {
        const wait = this.lastBatchAt + this.opts.batchWaitMs - Date.now();
        // A small batch right after another small one (a trickle): more lines join it until batchWaitMs has passed
        // since that one or half a batch is queued. Not after a large one: the tail of a burst leaves at once.
        // Otherwise readers between chunks get one event-loop turn to add to it first, so that 50 readers each
        // adding a chunk make one batch (one write, one cursor commit), not 50.
        if (wait > 0 && this.lastBatchSmall) await this.pause(wait);
        else await new Promise((resolve) => setImmediate(resolve));
      }
      this.idle = false;
      this.lastBatchAt = Date.now();
      this.lastBatchSmall = this.queue.bytes < this.halfBatch;
      const batch = this.queue.peek(this.opts.batchBytes);
      const next = advanceCursors(new Map(this.cursors), batch, 0, batch.length);
      // Serialized before the send, so that once the kernel holds the batch only the journal write is left.
      const whole = this.store.prepare(next);
      /** The state of a part of the batch, serialized before that part went out (Transport.send's beforeWrite). */
      let ahead: { n: number; prepared: PreparedCursors } | undefined;
      try {
        if (this.replayBatch.length > 0) {
          await this.transport.send(this.replayBatch);
          this.metrics.resentLines.inc({ reason: 'reconnect' }, linesIn(this.replayBatch, 0, this.replayBatch.length));
          releaseAll(this.replayBatch);
          this.replayBatch = [];
        }
        let committed = 0;
        /** The messages the newest journal record announced as being written; 0 once a commit followed it. */
        let announced = 0;
        const commitUpTo = (n: number) => {
          if (n <= committed) return;
          const from = committed;
          committed = n;
          announced = 0;
          if (n === batch.length) this.commit(whole, next, batch);
          else this.commitPrefix(batch, from, n, ahead?.n === n ? ahead.prepared : undefined);
        };
        const beforeWrite = (n: number) => {
          if (n <= committed || n <= announced) return;
          let prepared = whole;
          if (n < batch.length) {
            // this.cursors already holds the messages before `committed`: only those after it move. The same offer
            // tried again after the kernel took nothing is serialized once.
            if (ahead?.n !== n) ahead = { n, prepared: this.store.prepare(advanceCursors(new Map(this.cursors), batch, committed, n)) };
            prepared = ahead.prepared;
          }
          prepared.announce(linesIn(batch, committed, n));
          announced = n;
        };
        const nothingTaken = () => {
          if (announced === 0) return;
          this.store.withdraw();
          announced = 0;
        };
        // A datagram transport has no write of its own to announce: the batch is announced as a whole.
        if (!this.transport.streamOriented) beforeWrite(batch.length);
        await this.transport.send(batch, commitUpTo, beforeWrite, nothingTaken);
        commitUpTo(batch.length);
      } catch (err) {
        // The failed write put nothing in the kernel: its announcement would make the next start warn of repeats.
        this.store.withdraw();
        const e = asSwarmwatchError(err);
        this.metrics.deliveryErrors.inc({ code: e.code });
        this.metrics.connected.set(0);
        if (this.failingSince === undefined) {
          this.failingSince = Date.now();
          this.log.error(`${e.message}; holding ${this.queue.length} messages, reading paused when the buffer is full, retrying with backoff`, { code: e.code });
          if (this.transport.streamOriented) this.armReplay();
        } else {
          this.log.debug('delivery still failing', { error: e.message });
        }
        await this.pause(delay);
        delay = Math.min(delay * 2, this.opts.reconnectMaxDelayMs);
        continue;
      }
      delay = 250;
      if (this.failingSince !== undefined) {
        this.log.info(`delivering to ${this.transport.url} again after ${((Date.now() - this.failingSince) / 1000).toFixed(1)} s`);
        this.failingSince = undefined;
      }
      this.account(batch);
      this.queue.remove(batch.length);
      this.remember(batch);
    }
  }

  /**
   * Only the containers the batch moved change: copying all of `next` back brought back entries that expired
   * during the send and dropped a removal noted during it.
   */
  private commit(prepared: PreparedCursors, next: Map<string, CursorEntry>, batch: readonly OutMessage[]): void {
    prepared.commit();
    for (let i = 0; i < batch.length; i++) {
      const id = batch[i]!.containerId;
      if (i + 1 < batch.length && batch[i + 1]!.containerId === id) continue;
      const e = next.get(id)!;
      e.removedAt ??= this.cursors.get(id)?.removedAt;
      this.cursors.set(id, e);
    }
  }

  /**
   * The kernel took only the first `n` messages whole (a slow receiver, or one TLS record of the batch): commit
   * exactly those, synchronously (a kill -9 keeps the page cache; the snapshot follows within a second). With the
   * state serialized ahead for exactly `n`, only the journal write is left.
   */
  private commitPrefix(batch: readonly OutMessage[], from: number, n: number, serializedAhead?: PreparedCursors): void {
    advanceCursors(this.cursors, batch, from, n);
    (serializedAhead ?? this.store.prepare(this.cursors)).commit();
  }

  private account(batch: readonly OutMessage[]): void {
    const now = Date.now() / 1000;
    // Summed per service first: a labelled inc hashes its labels, which per message was ≈ 3 % of the shipper's CPU.
    const perService = new Map<string, { lines: number; bytes: number }>();
    const last = new Map<string, OutMessage>();
    for (const m of batch) {
      const sum = perService.get(m.service);
      if (sum) { sum.lines += m.lines; sum.bytes += m.bytes; } else perService.set(m.service, { lines: m.lines, bytes: m.bytes });
      last.set(m.containerId, m);
    }
    for (const [service, sum] of perService) {
      this.metrics.lines.inc({ service }, sum.lines);
      this.metrics.bytes.inc({ service }, sum.bytes);
    }
    for (const m of last.values()) this.metrics.lag.set({ container_name: m.containerName, service: m.service }, Math.max(0, now - toSeconds(m.time)));
    this.metrics.connected.set(1);
  }

  /** Keeps a delivered batch for a replay after a break (stream transports); what leaves that window is released. */
  private remember(batch: readonly OutMessage[]): void {
    if (!this.transport.streamOriented || this.opts.replayWindowMs <= 0) { releaseAll(batch); return; }
    const now = Date.now();
    let bytes = 0;
    for (const m of batch) bytes += m.bytes;
    this.recent.push({ at: now, bytes, batch });
    this.recentBytes += bytes;
    while (this.recent.length > 0 && (now - this.recent[0]!.at > this.opts.replayWindowMs || this.recentBytes > this.opts.replayMaxBytes)) {
      const gone = this.recent.shift()!;
      this.recentBytes -= gone.bytes;
      releaseAll(gone.batch);
    }
  }

  private replayBatch: OutMessage[] = [];

  /** The queue was empty and the sender has not taken a batch since: the next batch is the first of a burst. */
  private idle = true;

  /** The last delivery failed and none has succeeded since: the destination is down or refusing. */
  get failing(): boolean {
    return this.failingSince !== undefined;
  }

  /**
   * Whether a reader should stop parsing and give the event loop back: the first batch of a burst is queued and the
   * sender has yet to take it (it wakes in a microtask, after the reader that queued the first line; with less than
   * half a batch it then waits a turn). Without this, the readers that ran first parsed on: in a burst of 50
   * containers the first batch left with 12,000 messages queued (the whole buffer), 265–380 ms after the first line
   * was read, and the reader that queued the first line parsed up to ≈ 900 more before the sender woke (traced:
   * 67–180 ms of waiting for a CPU; 2 ms with this, in a run whose first read held a whole batch). Only the first
   * batch: after it, readers fill the queue between the sender's turns (one stop per batch was within the bench's
   * noise, either way).
   */
  get batchWaiting(): boolean {
    return this.idle && this.queue.bytes >= this.opts.batchBytes;
  }

  private armReplay(): void {
    const now = Date.now();
    // Oldest first: what left the window since the last batch is a prefix, released; the rest is sent again.
    let first = 0;
    while (first < this.recent.length && now - this.recent[first]!.at > this.opts.replayWindowMs) releaseAll(this.recent[first++]!.batch);
    this.replayBatch = this.recent.slice(first).flatMap((r) => r.batch);
    this.recent = [];
    this.recentBytes = 0;
    if (this.replayBatch.length > 0) this.log.warn(`the connection broke: sending the last ${this.replayBatch.length} delivered messages again (a receiver that died may not have read them)`);
  }
}

function linesIn(batch: readonly OutMessage[], from: number, to: number): number {
  let lines = 0;
  for (let i = from; i < to; i++) lines += batch[i]!.lines;
  return lines;
}

/** Nothing will read these messages again: their arena slabs may be written again (MessageArena.release). */
function releaseAll(batch: readonly OutMessage[]): void {
  for (let i = 0; i < batch.length; i++) MessageArena.release(batch[i]!);
}

/** Moves each container's cursor to its last message among messages `from` to `to` - 1 of the batch; returns `cursors`. */
function advanceCursors(cursors: Map<string, CursorEntry>, batch: readonly OutMessage[], from: number, to: number): Map<string, CursorEntry> {
  for (let i = from; i < to; i++) {
    const m = batch[i]!;
    // Runs of one container's messages are the rule: only the last of each run moves its cursor.
    if (i + 1 < to && batch[i + 1]!.containerId === m.containerId) continue;
    cursors.set(m.containerId, { cursor: m.cursor, name: m.containerName, removedAt: cursors.get(m.containerId)?.removedAt });
  }
  return cursors;
}
