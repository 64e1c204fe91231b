import { EventEmitter } from 'node:events';
import type { Cursor } from './cursor.js';
import type { Slab } from './message-arena.js';
import type { EngineTime } from './timestamp.js';

/** One encoded GELF message waiting for delivery, with what delivering it means for its container's cursor. */
export interface OutMessage {
  containerId: string;
  containerName: string;
  /** Swarm service name, or '' for plain containers (metrics label). */
  service: string;
  /** The message as text; undefined when it was written as bytes into `data` (GelfEncoder.writeEscaped). */
  json: string | undefined;
  /**
   * The message's bytes are `data[at, at + bytes)` (a MessageArena slab) when `json` is undefined, and
   * `data[at + bytes]` is a null byte (stream framing).
   */
  data: Buffer | undefined;
  /** The arena slab `data` is, while the message may still be read (MessageArena.release); undefined for text. */
  slab?: Slab;
  at: number;
  /** UTF-8 size of the message. */
  bytes: number;
  lines: number;
  /** The message's last `tailBytes` bytes are the same in every message with this `tailId` (0: no such tail). */
  tailId: number;
  tailBytes: number;
  time: EngineTime;
  cursor: Cursor;
  /** Re-encodes the message with its text cut to at most this many bytes (UDP's 128-chunk limit). */
  shrink(this: OutMessage, maxTextBytes: number): string;
}

/** Writes the message's UTF-8 bytes into `target` at `off`; returns how many. */
export function copyMessage(m: OutMessage, target: Buffer, off: number): number {
  return m.data ? m.data.copy(target, off, m.at, m.at + m.bytes) : target.write(m.json!, off, m.bytes);
}

/**
 * Messages `from` to `to` - 1 as GELF stream frames (each followed by a null byte), as few buffers as possible:
 * messages written one after the other into one arena slab are one view of it, not copied; runs of text
 * messages are written into one buffer each. Copying every message into one batch buffer cost a native call per
 * message and an allocation per batch: with 50 containers a third of the sender's CPU.
 */
export function framedRuns(batch: readonly OutMessage[], from: number, to: number): Buffer[] {
  const runs: Buffer[] = [];
  let i = from;
  while (i < to) {
    const m = batch[i]!;
    if (m.data) {
      const slab = m.data;
      const start = m.at;
      let end = m.at + m.bytes + 1;
      i++;
      while (i < to && batch[i]!.data === slab && batch[i]!.at === end) { end += batch[i]!.bytes + 1; i++; }
      runs.push(slab.subarray(start, end));
      continue;
    }
    let size = 0;
    let j = i;
    while (j < to && !batch[j]!.data) { size += batch[j]!.bytes + 1; j++; }
    const buf = Buffer.allocUnsafe(size);
    let off = 0;
    for (; i < j; i++) {
      off += copyMessage(batch[i]!, buf, off);
      buf[off++] = 0;
    }
    runs.push(buf);
  }
  return runs;
}

/** The message as text (decoded from its bytes when it was written as bytes). */
export function messageText(m: OutMessage): string {
  return m.json ?? m.data!.toString('utf8', m.at, m.at + m.bytes);
}

/**
 * The bounded buffer between container readers and the sender. push() returns false above the high-water mark;
 * readers then pause their engine stream until 'drain' (half of it). Nothing is ever dropped here: the engine's
 * log file holds what we do not read.
 */
export class DeliveryQueue extends EventEmitter<{ drain: []; data: []; ready: [] }> {
  private items: (OutMessage | undefined)[] = [];
  private head = 0;
  private bytesQueued = 0;
  private waiting = false;

  /**
   * 'ready' is emitted when a push takes the queue from below this to at least this; 'data' when a push makes an
   * empty queue non-empty. Set by the Sender that drains the queue (half its batch size): it waits for 'ready'
   * while lines trickle in.
   */
  readyBytes = Infinity;

  constructor(readonly highWaterBytes: number) {
    super();
    this.setMaxListeners(0);
  }

  push(m: OutMessage): boolean {
    this.items.push(m);
    const before = this.bytesQueued;
    this.bytesQueued += m.bytes;
    if (this.items.length - this.head === 1) this.emit('data');
    if (before < this.readyBytes && this.bytesQueued >= this.readyBytes) this.emit('ready');
    const ok = this.bytesQueued < this.highWaterBytes;
    if (!ok) this.waiting = true;
    return ok;
  }

  /** The oldest messages up to maxBytes (at least one); they stay queued until remove(). */
  peek(maxBytes: number): OutMessage[] {
    const out: OutMessage[] = [];
    let bytes = 0;
    for (let i = this.head; i < this.items.length; i++) {
      const m = this.items[i]!;
      if (out.length > 0 && bytes + m.bytes > maxBytes) break;
      out.push(m);
      bytes += m.bytes;
    }
    return out;
  }

  remove(count: number): void {
    for (let i = 0; i < count; i++) {
      this.bytesQueued -= this.items[this.head + i]!.bytes;
      // Delivered: let the collector have it now, not at the next compaction (up to half the array later).
      this.items[this.head + i] = undefined;
    }
    this.head += count;
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    if (this.waiting && this.bytesQueued <= this.highWaterBytes / 2) {
      this.waiting = false;
      this.emit('drain');
    }
  }

  get length(): number {
    return this.items.length - this.head;
  }

  /** Lines still queued, per container id, with the container's name. */
  linesByContainer(): Map<string, { name: string; lines: number }> {
    const by = new Map<string, { name: string; lines: number }>();
    for (let i = this.head; i < this.items.length; i++) {
      const m = this.items[i]!;
      const e = by.get(m.containerId);
      if (e) e.lines += m.lines;
      else by.set(m.containerId, { name: m.containerName, lines: m.lines });
    }
    return by;
  }

  get bytes(): number {
    return this.bytesQueued;
  }

  get full(): boolean {
    return this.bytesQueued >= this.highWaterBytes;
  }
}
