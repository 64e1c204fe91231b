import type { Cursor } from './cursor.js';
import { shrinkEscapedMessage, type GelfEncoder } from './gelf-message.js';
import { messageText, type OutMessage } from './queue.js';
import type { EngineTime } from './timestamp.js';

/** A slab of the arena and how many messages not yet released (MessageArena.release) point into it. */
export interface Slab {
  readonly buf: Buffer;
  live: number;
  readonly arena: MessageArena;
}

/**
 * Off-heap space for messages encoded as bytes (GelfEncoder.writeEscaped): messages are written one after the
 * other into a slab, and a queued message refers to its slab and offset. Held as strings, every queued message was
 * copied by each young-generation collection it survived; bytes outside the heap are not.
 *
 * A slab whose messages were all released (delivered and past the sender's replay window) is written again, not
 * left to the collector: a new slab is memory the kernel maps in page by page on first touch, and at ≈ 700 bytes
 * a message that was one page fault per ≈ 6 messages (measured: 16,000–17,300 faults per 100k lines in a burst of
 * 50 containers). A message never released (a replay that dropped it, a shutdown) only keeps its slab from coming
 * back; a slab is never reused while a message not released points into it.
 */
export class MessageArena {
  buf: Buffer;
  used = 0;
  private slab: Slab;
  /** Released slabs, written again before a new one is allocated. */
  private readonly spare: Buffer[] = [];

  constructor(private readonly slabBytes = 256 * 1024, private readonly maxSpare = 16) {
    this.buf = Buffer.allocUnsafeSlow(slabBytes);
    this.slab = { buf: this.buf, live: 0, arena: this };
  }

  /** The slab `buf` belongs to; a message written at `buf[used]` counts itself in its `live`. */
  get current(): Slab {
    return this.slab;
  }

  /** Makes room for `n` bytes at `buf[used]`: another slab when the current one has less left. */
  reserve(n: number): void {
    if (this.buf.length - this.used >= n) return;
    const old = this.slab;
    if (old.live === 0) this.keepSpare(old.buf);
    this.buf = (n <= this.slabBytes ? this.spare.pop() : undefined) ?? Buffer.allocUnsafeSlow(Math.max(this.slabBytes, n));
    this.slab = { buf: this.buf, live: 0, arena: this };
    this.used = 0;
  }

  /** Nothing reads `m`'s bytes any more (delivered and out of the replay window): its slab may be written again. */
  static release(m: OutMessage): void {
    const s = m.slab;
    if (!s) return;
    m.slab = undefined; // released once, however often this is called
    if (--s.live === 0 && s !== s.arena.slab) s.arena.keepSpare(s.buf);
  }

  private keepSpare(buf: Buffer): void {
    if (buf.length === this.slabBytes && this.spare.length < this.maxSpare) this.spare.push(buf);
  }
}

/** Where a queued message comes from (its container's cursor key and metrics labels). */
export interface MessageOrigin {
  containerId: string;
  containerName: string;
  service: string;
}

/**
 * Writes a one-line message whose text is `src[start, end)`, JSON-escaped as the engine wrote it, into the arena
 * (GelfEncoder.writeEscaped, then the null frame byte) and returns the message that points at it: the one place
 * that knows how arena messages are laid out.
 */
export function arenaMessage(arena: MessageArena, encoder: GelfEncoder, origin: MessageOrigin, src: Buffer, start: number, end: number, level: number, time: EngineTime, cursor: Cursor): OutMessage {
  const bytes = encoder.writeEscaped(arena, src, start, end, time, level);
  const slab = arena.current;
  slab.live++;
  const m: OutMessage = {
    containerId: origin.containerId, containerName: origin.containerName, service: origin.service,
    json: undefined, data: arena.buf, at: arena.used, bytes, lines: 1, tailId: encoder.tailId, tailBytes: encoder.tailBytes, time, cursor,
    slab, shrink: shrinkArenaMessage,
  };
  arena.used += bytes + 1; // and the null after it
  return m;
}

function shrinkArenaMessage(this: OutMessage, maxTextBytes: number): string {
  return shrinkEscapedMessage(messageText(this), maxTextBytes);
}
