import type { OutMessage } from '../queue.js';

export const SW_ERR_SHIPPER_DESTINATION = 'SW_ERR_SHIPPER_DESTINATION_UNREACHABLE';
export const SW_ERR_SHIPPER_WRITE_TIMEOUT = 'SW_ERR_SHIPPER_WRITE_TIMEOUT';

/** Sends batches of GELF messages; resolves once the operating system accepted all of them. */
export interface Transport {
  readonly url: string;
  /** Whether the last batch went out; used for the connected gauge. */
  readonly connected: boolean;
  /** True for stream transports, where a broken connection may have swallowed bytes the kernel accepted. */
  readonly streamOriented: boolean;
  /**
   * `onProgress(n)` runs, synchronously, each time the first `n` messages of the batch are wholly in the kernel
   * (which delivers them even if this process is killed the next instant); the last call has n = batch.length.
   * The sender commits its cursor there, so a kill -9 can repeat a message only between the write syscall and the
   * cursor commit (one journal write, CursorStore): microseconds of work, but the write wakes the receiver, which
   * can preempt the shipper right there (seen in the kill -9 test: one write repeated in some runs).
   * `beforeWrite(n)` runs, synchronously, right before every write syscall (stream transports), with the number of
   * messages whole in the kernel if it takes that write all (the batch; a TLS record's; whole messages offered
   * under backpressure): the sender serializes that state ahead, to be left with the journal write once
   * onProgress(n) comes, and announces the write in the journal, so that a process killed before that commit
   * knows at its next start what may be repeated. `nothingTaken()` runs when a write syscall took nothing (the
   * kernel's buffer full): nothing is being written until the next beforeWrite, so that announcement is taken back.
   */
  send(batch: readonly OutMessage[], onProgress?: (messagesInKernel: number) => void, beforeWrite?: (messagesAfterWrite: number) => void, nothingTaken?: () => void): Promise<void>;
  close(): Promise<void>;
}

export interface TransportHooks {
  onReconnect(): void;
  onTruncated(reason: string): void;
}
