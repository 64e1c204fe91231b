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
   * `onHandedOff` runs the moment the whole batch is in the kernel: synchronously inside send() when the write
   * completed at once (the common case), else from the write callback. The sender commits its cursor there, so a
   * kill -9 can duplicate a batch only in the microseconds between the syscall and the rename.
   */
  send(batch: readonly OutMessage[], onHandedOff?: () => void): Promise<void>;
  close(): Promise<void>;
}

export interface TransportHooks {
  onReconnect(): void;
  onTruncated(reason: string): void;
}
