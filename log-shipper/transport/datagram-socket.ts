import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';

/** A datagram the kernel has no room for (a full send buffer) is retried this long before the send fails. */
const FULL_BUFFER_TIMEOUT_MS = 5000;

/**
 * A UDP socket connected to one address (no route lookup per datagram: ≈ 5.8 µs of CPU per datagram instead of
 * ≈ 11 µs with an address on every send), used by the transport on the main thread and by its send thread.
 * Datagrams go out in order with write(2) on the socket's descriptor: ≈ 4 µs of CPU each against ≈ 6 µs through
 * dgram's `send` (a request object, a callback and a tick per datagram); where the descriptor is not reachable,
 * through `send`.
 */
export class ConnectedDatagramSocket {
  /** Set when the destination answered an earlier datagram with ICMP port-unreachable (see open). */
  private refused = false;

  private constructor(private readonly socket: dgram.Socket, private readonly fd: number | undefined) {
    // Node reads from every bound UDP socket, so the kernel's pending ICMP error arrives here, not at a write.
    socket.on('error', (err) => { if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') this.refused = true; });
  }

  /** Rejects with the socket's error (EINVAL, ENETUNREACH…); the caller names the destination. */
  static open(address: string, port: number, sendBufferSize: number): Promise<ConnectedDatagramSocket> {
    const s = dgram.createSocket({ type: net.isIPv6(address) ? 'udp6' : 'udp4', sendBufferSize });
    s.unref();
    return new Promise((resolve, reject) => {
      const fail = (err: Error) => { s.close(); reject(err); };
      s.once('error', fail);
      // A failed connect (a name that does not resolve, ENETUNREACH…) goes to this callback, not to 'error':
      // ignoring it left a socket that was never connected, and every later send failed with EDESTADDRREQ.
      const connected = (err?: Error) => {
        s.off('error', fail);
        if (err) { fail(err); return; }
        resolve(new ConnectedDatagramSocket(s, descriptorOf(s)));
      };
      s.connect(port, address, connected as () => void);
    });
  }

  /**
   * Sends the datagrams in order; `refused` tells that the destination answered a datagram sent before with
   * ICMP port-unreachable, which is not a failed send (UDP does not know delivery). Rejects on any other error.
   */
  async send(datagrams: readonly Buffer[]): Promise<{ refused: boolean }> {
    if (this.fd === undefined) await this.sendThroughNode(datagrams);
    else await this.writeAll(this.fd, datagrams);
    const refused = this.refused;
    this.refused = false;
    return { refused };
  }

  private async writeAll(fd: number, datagrams: readonly Buffer[]): Promise<void> {
    let retriedRefusal = false;
    for (const d of datagrams) {
      let fullSince = 0;
      for (;;) {
        try {
          fs.writeSync(fd, d);
          break;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          // A pending ICMP error Node's reader did not take first is reported on this call, which then sent
          // nothing: write the datagram again.
          if (code === 'ECONNREFUSED') { this.refused = true; if (retriedRefusal) break; retriedRefusal = true; continue; }
          if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') throw err;
          fullSince ||= Date.now();
          if (Date.now() - fullSince > FULL_BUFFER_TIMEOUT_MS) throw Object.assign(new Error(`the socket's send buffer stayed full for ${FULL_BUFFER_TIMEOUT_MS} ms`), { code });
          await new Promise((r) => setTimeout(r, 1));
        }
      }
    }
  }

  private sendThroughNode(datagrams: readonly Buffer[]): Promise<void> {
    return new Promise((resolve, reject) => {
      let pending = datagrams.length;
      let failure: Error | undefined;
      if (pending === 0) { resolve(); return; }
      for (const d of datagrams) {
        this.socket.send(d, (err) => {
          if (err && (err as NodeJS.ErrnoException).code === 'ECONNREFUSED') this.refused = true;
          else if (err) failure ??= err;
          if (--pending > 0) return;
          if (failure) reject(failure);
          else resolve();
        });
      }
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** libuv's descriptor of a dgram socket (on the handle behind Node's internal state symbol), if reachable. */
function descriptorOf(s: dgram.Socket): number | undefined {
  const state = Object.getOwnPropertySymbols(s).find((k) => k.description === 'state symbol');
  const fd = state ? (s as unknown as Record<symbol, { handle?: { fd?: unknown } }>)[state]?.handle?.fd : undefined;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}
