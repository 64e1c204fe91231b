import type { Compression } from '../settings.js';

/** What the UDP send thread is started with. */
export interface SendThreadOptions {
  compression: Compression;
  compressionLevel: number;
  datagramSize: number;
  sendBufferSize: number;
}

/**
 * Main thread → send thread. `data`, `ends`, `kinds` and `tails` are transferred, not copied. `tails` holds two
 * numbers per item: the OutMessage's tailId and tailBytes (0, 0 for none and for finished datagrams).
 */
export type ToSendThread =
  | { type: 'connect'; id: number; address: string; port: number }
  | { type: 'batch'; id: number; data: Uint8Array; ends: Uint32Array; kinds: Uint8Array; tails: Uint32Array };

/** Send thread → main thread: the answer to the request with the same id. */
export type FromSendThread =
  | { type: 'connected'; id: number; error?: { code?: string; message: string } }
  | { type: 'sent'; id: number; error?: { code?: string; message: string }; refused?: boolean; buffer?: ArrayBuffer };
