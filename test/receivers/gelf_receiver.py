#!/usr/bin/python3
"""
An independent GELF receiver for swarmwatch's tests and benchmark. Python standard library only: it shares no
code with the TypeScript sender it checks. Decodes GELF 1.1 over TCP (null-delimited), TLS, and UDP (gzip, zlib
or uncompressed; chunked with magic 0x1e 0x0f, any chunk order, any datagram size, 128 chunks max, 5 s to
complete), and records every message it received, as received, to a JSON-lines file.

  gelf_receiver.py --proto tcp|udp|tls --port 0 --out FILE [--stats FILE] [--count-only] [--cert F --key F]
                   [--read-rate BYTES_PER_S] [--stamp-arrival]

Prints "LISTENING <proto> <port>" on stdout once ready. SIGUSR1: the counts (stats, timeline) start again at the
next message (a benchmark's warm-up is not counted). SIGTERM: stop accepting, read what is already buffered
on every connection, record it, write stats, exit 0 (a receiver that goes down cleanly, like Graylog's).
"""
import argparse, gzip, json, os, signal, socket, ssl, sys, threading, time, zlib

p = argparse.ArgumentParser()
p.add_argument('--proto', choices=['tcp', 'udp', 'tls'], required=True)
p.add_argument('--port', type=int, default=0)
p.add_argument('--host', default='127.0.0.1')
p.add_argument('--out', default='')
p.add_argument('--stats', default='')
p.add_argument('--count-only', action='store_true')
p.add_argument('--timeline', action='store_true', help='with --count-only, count stream (TCP/TLS) messages per 10 ms of arrival (stats key "timeline")')
p.add_argument('--cert', default='')
p.add_argument('--key', default='')
p.add_argument('--client-ca', default='', help='with --proto tls: require a client certificate signed by this CA (mutual TLS)')
p.add_argument('--no-tickets', action='store_true', help='with --proto tls: send no TLS 1.3 session tickets (as some servers do not)')
p.add_argument('--rcvbuf', type=int, default=256 * 1024 * 1024)
# A slow receiver (a loaded Graylog): stream connections are read at most this many bytes per second (0: no limit).
p.add_argument('--read-rate', type=int, default=0)
# For latency figures: each recorded message gets the key "__arrival" (Unix seconds it was decoded here).
p.add_argument('--stamp-arrival', action='store_true')
# For crash tests: each recorded stream message gets the key "__conn", the number of its connection (1 = the first
# accepted), so that a repeated line can be traced to the sender process that sent it first.
p.add_argument('--stamp-connection', action='store_true')
args = p.parse_args()

lock = threading.Lock()
stopping = threading.Event()
out = open(args.out, 'a', buffering=1 << 20) if args.out else None
timeline = {}
stats = {'messages': 0, 'bytes': 0, 'invalid': 0, 'incomplete_chunked': 0, 'connections': 0, 'first_at': 0.0, 'last_at': 0.0}
reset_pending = False


def take_reset():
    """Under `lock`: starts the counts again if SIGUSR1 asked for it since the last message."""
    global reset_pending
    if reset_pending:
        reset_pending = False
        for k in ('messages', 'bytes', 'invalid', 'incomplete_chunked'):
            stats[k] = 0
        stats['first_at'] = 0.0
        stats['last_at'] = 0.0
        timeline.clear()


def record(payload: bytes, conn_index: int = 0):
    """One complete GELF payload (already decompressed); `conn_index`: its stream connection's number (0: UDP)."""
    with lock:
        take_reset()
        now = time.time()
        if not stats['first_at']:
            stats['first_at'] = now
        stats['last_at'] = now
        stats['messages'] += 1
        stats['bytes'] += len(payload)
        if args.count_only:
            return
        try:
            msg = json.loads(payload.decode('utf-8'))
        except Exception:
            stats['invalid'] += 1
            msg = {'_receiver_invalid': payload[:200].decode('utf-8', 'replace')}
        if args.stamp_arrival and isinstance(msg, dict):
            msg['__arrival'] = now
        if args.stamp_connection and isinstance(msg, dict):
            msg['__conn'] = conn_index
        if out:
            out.write(json.dumps(msg, ensure_ascii=False) + '\n')


def record_many(blob: bytes, count_hint: int, conn_index: int):
    if args.count_only:
        with lock:
            take_reset()
            now = time.time()
            if not stats['first_at']:
                stats['first_at'] = now
            stats['last_at'] = now
            stats['messages'] += count_hint
            stats['bytes'] += len(blob)
            if args.timeline:
                slot = int((now - stats['first_at']) * 100)
                timeline[slot] = timeline.get(slot, 0) + count_hint
        return
    for part in blob.split(b'\0'):
        if part:
            record(part, conn_index)


def write_stats():
    if args.stats:
        tmp = args.stats + '.tmp'
        with lock:
            with open(tmp, 'w') as f:
                json.dump({**stats, 'timeline': sorted(timeline.items())} if args.timeline else stats, f)
            if out:
                out.flush()
        os.replace(tmp, args.stats)


def decompress(data: bytes) -> bytes:
    if data[:2] == b'\x1f\x8b':
        return gzip.decompress(data)
    if data[:1] == b'\x78':
        return zlib.decompress(data)
    return data


def serve_stream(conn: socket.socket, conn_index: int):
    with lock:
        stats['connections'] += 1
    conn.settimeout(0.2)
    buf = b''
    while True:
        try:
            data = conn.recv(min(1 << 20, max(4096, args.read_rate // 20)) if args.read_rate else 1 << 20)
            if args.read_rate and data:
                time.sleep(len(data) / args.read_rate)
        except (socket.timeout, ssl.SSLWantReadError):
            if stopping.is_set():
                break
            continue
        except OSError:
            break
        if not data:
            break
        buf += data
        cut = buf.rfind(b'\0')
        if cut >= 0:
            record_many(buf[:cut + 1], buf.count(b'\0', 0, cut + 1), conn_index)
            buf = buf[cut + 1:]
    if stopping.is_set():
        # Going down: take what the kernel already holds for us, then close.
        conn.setblocking(False)
        try:
            while True:
                data = conn.recv(1 << 20)
                if not data:
                    break
                buf += data
        except (BlockingIOError, ssl.SSLWantReadError, OSError):
            pass
        cut = buf.rfind(b'\0')
        if cut >= 0:
            record_many(buf[:cut + 1], buf.count(b'\0', 0, cut + 1), conn_index)
    try:
        conn.close()
    except OSError:
        pass


def serve_tcp():
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.host, args.port))
    ls.listen(128)
    ls.settimeout(0.2)
    ctx = None
    if args.proto == 'tls':
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        if args.client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(args.client_ca)
        if args.no_tickets:
            ctx.num_tickets = 0
    print(f'LISTENING {args.proto} {ls.getsockname()[1]}', flush=True)
    threads = []
    accepted = 0
    while not stopping.is_set():
        try:
            conn, _ = ls.accept()
        except socket.timeout:
            continue
        if ctx:
            try:
                conn.settimeout(5)
                conn = ctx.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError) as e:
                print(f'TLS handshake failed: {e}', file=sys.stderr, flush=True)
                conn.close()
                continue
        accepted += 1
        t = threading.Thread(target=serve_stream, args=(conn, accepted), daemon=True)
        t.start()
        threads.append(t)
    ls.close()
    for t in threads:
        t.join(5)


def serve_udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, 33, args.rcvbuf)  # SO_RCVBUFFORCE (root): UDP loses datagrams otherwise
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.rcvbuf)
    s.bind((args.host, args.port))
    s.settimeout(0.2)
    print(f'LISTENING udp {s.getsockname()[1]}', flush=True)
    pending = {}  # message id -> (first seen, count, {seq: data})
    while not stopping.is_set():
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        now = time.time()
        if d[:2] == b'\x1e\x0f':
            mid, seq, count = d[2:10], d[10], d[11]
            if count > 128 or seq >= count:
                stats['invalid'] += 1
                continue
            first, _, parts = pending.setdefault(mid, (now, count, {}))
            parts[seq] = d[12:]
            if len(parts) == count:
                del pending[mid]
                data = b''.join(parts[i] for i in range(count))
                try:
                    record(decompress(data) if not args.count_only else data)
                except Exception:
                    stats['invalid'] += 1
            for k in [k for k, v in pending.items() if now - v[0] > 5]:
                del pending[k]
                stats['incomplete_chunked'] += 1
        else:
            try:
                record(decompress(d) if not args.count_only else d)
            except Exception:
                stats['invalid'] += 1
    s.close()


def on_term(*_):
    stopping.set()


def on_usr1(*_):
    global reset_pending
    reset_pending = True


signal.signal(signal.SIGUSR1, on_usr1)
signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)


def stats_loop():
    while not stopping.wait(0.5):
        write_stats()


threading.Thread(target=stats_loop, daemon=True).start()
if args.proto == 'udp':
    serve_udp()
else:
    serve_tcp()
write_stats()
if out:
    out.close()
