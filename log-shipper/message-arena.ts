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
