/**
 * The UDP transport's second thread: compresses, chunks and sends the batches the main thread hands over, so
 * that reading and encoding (main thread) and deflate plus one sendmsg per datagram (here) use both cores.
 * Protocol in udp-send-protocol.ts; loaded by UdpSendThread.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { chunkDatagrams, Compressor } from './chunking.js';
import type { FromSendThread, SendThreadOptions, ToSendThread } from './udp-send-protocol.js';

const port = parentPort!;
const opts = workerData as SendThreadOptions;
const compressor = new Compressor(opts.compression, opts.compressionLevel);
let socket: dgram.Socket | undefined;

function reply(m: FromSendThread): void {
  port.postMessage(m);
}

function errorOf(err: Error): { code?: string; message: string } {
  return { code: (err as NodeJS.ErrnoException).code, message: err.message };
}

function connect(id: number, address: string, destinationPort: number): void {
  socket?.close();
  socket = undefined;
  const s = dgram.createSocket({ type: net.isIPv6(address) ? 'udp6' : 'udp4', sendBufferSize: opts.sendBufferSize });
  const fail = (err: Error) => reply({ type: 'connected', id, error: errorOf(err) });
  s.once('error', fail);
  s.connect(destinationPort, address, () => {
    s.off('error', fail);
    // ICMP port-unreachable surfaces as an error on a later send; UDP is fire-and-forget (see send's callback).
    s.on('error', () => {});
    socket = s;
    reply({ type: 'connected', id });
  });
}

/**
 * Items are whole messages to compress and chunk (kind 0) or finished datagrams (kind 1: messages the main
 * thread had to cut to fit 128 chunks). Sends complete in order, so the last callback means the batch left.
 */
function sendBatch(id: number, data: Uint8Array, ends: Uint32Array, kinds: Uint8Array): void {
  const s = socket;
  if (!s) {
    reply({ type: 'sent', id, error: { code: 'ENOTCONN', message: 'the UDP socket is not connected' } });
    return;
  }
  const payloads = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let pending = 1;
  let failure: { code?: string; message: string } | undefined;
  let refused = false;
  const done = (err: Error | null) => {
    if (err) {
      // A connected socket reports an earlier datagram's ICMP port-unreachable here: not a failed send.
      if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') refused = true;
      else failure ??= errorOf(err);
    }
    if (--pending === 0) reply({ type: 'sent', id, error: failure, refused });
  };
  let start = 0;
  for (let i = 0; i < ends.length; i++) {
    const payload = payloads.subarray(start, ends[i]);
    start = ends[i]!;
    const datagrams = kinds[i] === 1 ? [payload] : chunkDatagrams(compressor.compress(payload), opts.datagramSize);
    if (!datagrams) {
      // The main thread sends here only messages whose worst-case compressed size fits; report, do not drop silently.
      failure ??= { code: 'EMSGSIZE', message: `a message of ${payload.length} bytes needs more than 128 chunks` };
      continue;
    }
    for (const d of datagrams) {
      pending++;
      s.send(d, done);
    }
  }
  done(null);
}

port.on('message', (m: ToSendThread) => {
  if (m.type === 'connect') connect(m.id, m.address, m.port);
  else if (m.type === 'batch') sendBatch(m.id, m.data, m.ends, m.kinds);
  else {
    compressor.close();
    socket?.close();
    socket = undefined;
    port.close();
  }
});
