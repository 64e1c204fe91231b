import type { Cursor } from './cursor.js';
import { shrinkEscapedMessage, type GelfEncoder } from './gelf-message.js';
import { messageText, type OutMessage } from './queue.js';
import type { EngineTime } from './timestamp.js';

/**
 * Off-heap space for messages encoded as bytes (GelfEncoder.writeEscaped): messages are written one after the
 * other into a slab, and a queued message refers to its slab and offset. A slab is collected once no message in
 * it is referenced (the queue is first in, first out, so slabs go in order). Held as strings, every queued
 * message was copied by each young-generation collection it survived; bytes outside the heap are not.
 */
export class MessageArena {
  buf: Buffer;
  used = 0;

  constructor(private readonly slabBytes = 256 * 1024) {
    this.buf = Buffer.allocUnsafeSlow(slabBytes);
  }

  /** Makes room for `n` bytes at `buf[used]`: a new slab when the current one has less left. */
  reserve(n: number): void {
    if (this.buf.length - this.used >= n) return;
    this.buf = Buffer.allocUnsafeSlow(Math.max(this.slabBytes, n));
    this.used = 0;
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
  const m: OutMessage = {
    containerId: origin.containerId, containerName: origin.containerName, service: origin.service,
    json: undefined, data: arena.buf, at: arena.used, bytes, lines: 1, tailId: encoder.tailId, tailBytes: encoder.tailBytes, time, cursor,
    shrink: shrinkArenaMessage,
  };
  arena.used += bytes + 1; // and the null after it
  return m;
}

function shrinkArenaMessage(this: OutMessage, maxTextBytes: number): string {
  return shrinkEscapedMessage(messageText(this), maxTextBytes);
}
