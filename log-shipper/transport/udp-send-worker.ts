/**
 * The UDP transport's second thread: compresses, chunks and sends the batches the main thread hands over, so
 * that reading and encoding (main thread) and deflate plus one write per datagram (here) use both cores.
 * Protocol in udp-send-protocol.ts; loaded by UdpSendThread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { chunkDatagrams, Compressor } from './chunking.js';
import { ConnectedDatagramSocket } from './datagram-socket.js';
import type { FromSendThread, SendThreadOptions, ToSendThread } from './udp-send-protocol.js';

const port = parentPort!;
const opts = workerData as SendThreadOptions;
const compressor = new Compressor(opts.compression, opts.compressionLevel);
let socket: ConnectedDatagramSocket | undefined;

function errorOf(err: unknown): { code?: string; message: string } {
  return { code: (err as NodeJS.ErrnoException).code, message: (err as Error).message };
}

async function connect(id: number, address: string, destinationPort: number): Promise<void> {
  const old = socket;
  socket = undefined;
  await old?.close();
  try {
    socket = await ConnectedDatagramSocket.open(address, destinationPort, opts.sendBufferSize);
    port.postMessage({ type: 'connected', id } satisfies FromSendThread);
  } catch (err) {
    port.postMessage({ type: 'connected', id, error: errorOf(err) } satisfies FromSendThread);
  }
}

/**
 * Items are whole messages to compress and chunk (kind 0) or finished datagrams (kind 1: messages the main
 * thread had to cut to fit 128 chunks). The batch buffer goes back with the answer for the next batch: dropped
 * here it would be freed only by a GC, which V8 starts for external memory only after ≈ 64 MB of it (measured:
 * +75 MiB RSS).
 */
async function sendBatch(id: number, data: Uint8Array, ends: Uint32Array, kinds: Uint8Array, tails: Uint32Array): Promise<void> {
  const answer: FromSendThread = { type: 'sent', id, buffer: data.buffer as ArrayBuffer };
  try {
    if (!socket) throw Object.assign(new Error('the UDP socket is not connected'), { code: 'ENOTCONN' });
    const payloads = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const datagrams: Buffer[] = [];
    let start = 0;
    for (let i = 0; i < ends.length; i++) {
      const payload = payloads.subarray(start, ends[i]);
      start = ends[i]!;
      if (kinds[i] === 1) { datagrams.push(payload); continue; }
      const chunks = chunkDatagrams(compressor.compress(payload, tails[i * 2], tails[i * 2 + 1]), opts.datagramSize);
      // The main thread sends here only messages whose worst-case compressed size fits; report, never drop silently.
      if (!chunks) throw Object.assign(new Error(`a message of ${payload.length} bytes needs more than 128 chunks`), { code: 'EMSGSIZE' });
      datagrams.push(...chunks);
    }
    answer.refused = (await socket.send(datagrams)).refused;
  } catch (err) {
    answer.error = errorOf(err);
  }
  port.postMessage(answer, [data.buffer as ArrayBuffer]);
}

port.on('message', (m: ToSendThread) => {
  if (m.type === 'connect') void connect(m.id, m.address, m.port);
  else void sendBatch(m.id, m.data, m.ends, m.kinds, m.tails);
});
// No close message: the main thread terminates this thread, which closes its socket and zlib state with it.
