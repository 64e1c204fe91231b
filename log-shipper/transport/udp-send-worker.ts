/**
 * The UDP transport's second thread: compresses, chunks and sends the batches the main thread hands over, so
 * that reading and encoding (main thread) and deflate plus one sendmsg per datagram (here) use both cores.
 * Protocol in udp-send-protocol.ts; loaded by UdpSendThread.
 */
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { chunkDatagrams, Compressor } from './chunking.js';
import type { FromSendThread, SendThreadOptions, ToSendThread } from './udp-send-protocol.js';

const port = parentPort!;
const opts = workerData as SendThreadOptions;
const compressor = new Compressor(opts.compression, opts.compressionLevel);
let socket: dgram.Socket | undefined;
/** The connected socket's descriptor: write(2) on it sends one datagram (see writeDatagrams). */
let socketFd: number | undefined;
/** A datagram the kernel has no room for (a full send buffer) is retried this long before the batch fails. */
const FULL_BUFFER_TIMEOUT_MS = 5000;

function reply(m: FromSendThread): void {
  port.postMessage(m);
}

function errorOf(err: Error): { code?: string; message: string } {
  return { code: (err as NodeJS.ErrnoException).code, message: err.message };
}

function connect(id: number, address: string, destinationPort: number): void {
  socket?.close();
  socket = undefined;
  socketFd = undefined;
  const s = dgram.createSocket({ type: net.isIPv6(address) ? 'udp6' : 'udp4', sendBufferSize: opts.sendBufferSize });
  const fail = (err: Error) => reply({ type: 'connected', id, error: errorOf(err) });
  s.once('error', fail);
  s.connect(destinationPort, address, () => {
    s.off('error', fail);
    // ICMP port-unreachable surfaces as an error on a later send; UDP is fire-and-forget (see send's callback).
    s.on('error', () => {});
    socket = s;
    socketFd = descriptorOf(s);
    reply({ type: 'connected', id });
  });
}

/** libuv's descriptor of a dgram socket (on the handle behind Node's internal state symbol), if reachable. */
function descriptorOf(s: dgram.Socket): number | undefined {
  const state = Object.getOwnPropertySymbols(s).find((k) => k.description === 'state symbol');
  const fd = state ? (s as unknown as Record<symbol, { handle?: { fd?: unknown } }>)[state]?.handle?.fd : undefined;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

type SendError = { code?: string; message: string };

/**
 * Items are whole messages to compress and chunk (kind 0) or finished datagrams (kind 1: messages the main
 * thread had to cut to fit 128 chunks). The datagrams of a batch go out in order.
 */
async function sendBatch(id: number, data: Uint8Array, ends: Uint32Array, kinds: Uint8Array): Promise<void> {
  const s = socket;
  if (!s) {
    reply({ type: 'sent', id, error: { code: 'ENOTCONN', message: 'the UDP socket is not connected' } });
    return;
  }
  const payloads = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const outcome = { refused: false, error: undefined as SendError | undefined };
  const fd = socketFd;
  let start = 0;
  for (let i = 0; i < ends.length && !outcome.error; i++) {
    const payload = payloads.subarray(start, ends[i]);
    start = ends[i]!;
    const datagrams = kinds[i] === 1 ? [payload] : chunkDatagrams(compressor.compress(payload), opts.datagramSize);
    if (!datagrams) {
      // The main thread sends here only messages whose worst-case compressed size fits; report, do not drop silently.
      outcome.error = { code: 'EMSGSIZE', message: `a message of ${payload.length} bytes needs more than 128 chunks` };
      break;
    }
    if (fd !== undefined) await writeDatagrams(fd, datagrams, outcome);
    else await sendDatagrams(s, datagrams, outcome);
  }
  // The batch buffer goes back for the next batch: dropped here it would be freed only by a GC, which V8 starts
  // for external memory only after ≈ 64 MB of it (measured: +75 MiB RSS before this).
  port.postMessage({ type: 'sent', id, error: outcome.error, refused: outcome.refused, buffer: data.buffer as ArrayBuffer } satisfies FromSendThread, [data.buffer as ArrayBuffer]);
}

/**
 * write(2) straight on the connected socket: ≈ 4 µs of CPU per datagram here against ≈ 6 µs through dgram's
 * send (a request object, a callback and a tick per datagram). A full send buffer (EAGAIN) is waited out.
 */
async function writeDatagrams(fd: number, datagrams: Buffer[], outcome: { refused: boolean; error?: SendError }): Promise<void> {
  for (const d of datagrams) {
    let fullSince = 0;
    for (;;) {
      try {
        fs.writeSync(fd, d);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // An earlier datagram's ICMP port-unreachable, reported once on this call: UDP is fire-and-forget, so
        // it is not a failed send; this datagram is written again.
        if (code === 'ECONNREFUSED' && !outcome.refused) { outcome.refused = true; continue; }
        if (code === 'ECONNREFUSED') break;
        if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') { outcome.error = errorOf(err as Error); return; }
        fullSince ||= Date.now();
        if (Date.now() - fullSince > FULL_BUFFER_TIMEOUT_MS) { outcome.error = { code, message: `the socket's send buffer stayed full for ${FULL_BUFFER_TIMEOUT_MS} ms` }; return; }
        await new Promise((r) => setTimeout(r, 1));
      }
    }
  }
}

/** Through dgram's send, where the descriptor is not reachable. Sends complete in order. */
function sendDatagrams(s: dgram.Socket, datagrams: Buffer[], outcome: { refused: boolean; error?: SendError }): Promise<void> {
  return new Promise<void>((resolve) => {
    let pending = datagrams.length;
    for (const d of datagrams) {
      s.send(d, (err) => {
        if (err && (err as NodeJS.ErrnoException).code === 'ECONNREFUSED') outcome.refused = true;
        else if (err) outcome.error ??= errorOf(err);
        if (--pending === 0) resolve();
      });
    }
  });
}

port.on('message', (m: ToSendThread) => {
  if (m.type === 'connect') connect(m.id, m.address, m.port);
  else if (m.type === 'batch') void sendBatch(m.id, m.data, m.ends, m.kinds);
  else {
    compressor.close();
    socket?.close();
    socket = undefined;
    port.close();
  }
});
