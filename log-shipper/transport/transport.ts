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
   * `beforeWrite(n)` runs, synchronously, before a write that will make the first `n` messages whole in the kernel
   * if the kernel takes it all (TLS records; whole messages offered under backpressure), so the sender can
   * serialize that state ahead and be left with the journal write once onProgress(n) comes.
   */
  send(batch: readonly OutMessage[], onProgress?: (messagesInKernel: number) => void, beforeWrite?: (messagesAfterWrite: number) => void): Promise<void>;
  close(): Promise<void>;
}

export interface TransportHooks {
  onReconnect(): void;
  onTruncated(reason: string): void;
}
