/** Starts test/receivers/gelf_receiver.py (Python stdlib only: shares no code with our sender) and reads what it got. */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// Run from the sources (tests) or compiled into dist/ (benchmarks): the script itself is only in the sources.
const script = [path.join(here, 'gelf_receiver.py'), path.join(here, '../../../test/receivers/gelf_receiver.py')].find((f) => fs.existsSync(f)) ?? path.join(here, 'gelf_receiver.py');
export const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

export interface ReceiverOptions {
  proto: 'tcp' | 'udp' | 'tls';
  port?: number;
  host?: string;
  countOnly?: boolean;
  cert?: string;
  key?: string;
  /** With proto tls: require a client certificate signed by this CA (PEM file). */
  clientCa?: string;
  /** With proto tls: no TLS 1.3 session tickets (some servers send none). */
  noTickets?: boolean;
  /** Directory for out/stats files (a new temp dir by default). */
  dir?: string;
  /** Reads stream connections at most this fast (bytes/s), like a loaded Graylog: the sender meets backpressure. */
  readRate?: number;
  /** With countOnly: stream messages counted per 10 ms of arrival (stats().timeline), for benchmarks. */
  timeline?: boolean;
  /** Each recorded message gets "__arrival": Unix seconds it was decoded (line delay figures). */
  stampArrival?: boolean;
  /** Each recorded stream message gets "__conn": the number of the connection it came on (1 = the first accepted). */
  stampConnection?: boolean;
}

export interface ReceiverStats {
  messages: number;
  bytes: number;
  invalid: number;
  incomplete_chunked: number;
  connections: number;
  first_at: number;
  last_at: number;
  /** [10 ms slot since the first message, messages] (option timeline). */
  timeline?: [number, number][];
}

export interface GelfReceiver {
  port: number;
  outFile: string;
  statsFile: string;
  child: ChildProcess;
  /** Every message received so far (flushed at most 0.5 s ago). */
  messages(): Record<string, unknown>[];
  stats(): ReceiverStats;
  /** The counts of stats() start again with the next message (SIGUSR1): e.g. after a benchmark's warm-up. */
  restartCounts(): void;
  /** SIGTERM: the receiver reads what is buffered, records it and exits. */
  stop(): Promise<void>;
}

export async function startGelfReceiver(o: ReceiverOptions): Promise<GelfReceiver> {
  const dir = o.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'sw-gelf-'));
  const tag = `${o.proto}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`;
  const outFile = path.join(dir, `received-${tag}.jsonl`);
  const statsFile = path.join(dir, `stats-${tag}.json`);
  const args = [script, '--proto', o.proto, '--port', String(o.port ?? 0), '--host', o.host ?? '127.0.0.1', '--out', outFile, '--stats', statsFile];
  if (o.countOnly) args.push('--count-only');
  if (o.cert) args.push('--cert', o.cert, '--key', o.key!);
  if (o.clientCa) args.push('--client-ca', o.clientCa);
  if (o.noTickets) args.push('--no-tickets');
  if (o.readRate) args.push('--read-rate', String(o.readRate));
  if (o.timeline) args.push('--timeline');
  if (o.stampArrival) args.push('--stamp-arrival');
  if (o.stampConnection) args.push('--stamp-connection');
  const child = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('GELF receiver did not start within 10 s')), 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /LISTENING \w+ (\d+)/.exec(buf);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`GELF receiver exited with ${code}`)); });
  });
  return {
    port, outFile, statsFile, child,
    messages: () => (fs.existsSync(outFile) ? fs.readFileSync(outFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : []),
    stats: () => {
      try { return JSON.parse(fs.readFileSync(statsFile, 'utf8')) as ReceiverStats; } catch { return { messages: 0, bytes: 0, invalid: 0, incomplete_chunked: 0, connections: 0, first_at: 0, last_at: 0 }; }
    },
    restartCounts: () => { child.kill('SIGUSR1'); },
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) { resolve(); return; }
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      // A receiver a test stopped (SIGSTOP, a hung Graylog) handles the SIGTERM only once it runs again.
      child.kill('SIGCONT');
    }),
  };
}
