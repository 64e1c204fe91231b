/** Helpers for the shipper's engine tests: run the compiled shipper as its own process (so it can be kill -9'd). */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect } from 'vitest';
import { CLOCK_TICKS_PER_SECOND, ensureBusyboxImage, readProcStat, startEngine, type PrivateEngine } from '../bed/index.js';
import { startGelfReceiver, type GelfReceiver } from '../receivers/gelf-receiver.js';
import { parseExposition, value } from '../support/prom-text.js';
import { shipperOptions } from '../../log-shipper/options.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RUNNER = path.join(ROOT, 'test/fixtures/shipper/run-shipper.mjs');

/** Compiles the project once (scripts/ensure-build.sh skips it when dist/ is current). */
export function ensureBuild(): void {
  execFileSync('bash', [path.join(ROOT, 'scripts/ensure-build.sh')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}

export interface ShipperProcess {
  child: ChildProcess;
  stderr(): string;
  kill9(): Promise<void>;
  stop(): Promise<number | null>;
}

const SHIPPER_START_TIMEOUT_MS = 60_000;

/** CPU time a process got and the machine's load, to tell a starved process from a stuck one. */
function describeStarvedProcess(pid: number | undefined): string {
  const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const st = pid ? readProcStat(pid) : undefined;
  const cpu = st ? `state ${st.state}, ${((st.utime + st.stime) / CLOCK_TICKS_PER_SECOND).toFixed(2)} CPU s used` : 'process gone';
  return `${cpu}; load average ${load}`;
}

/** `wrapper`: a command the shipper runs under, which ends by exec-ing its arguments (e.g. `unshare -m …`). */
export async function startShipper(dockerHost: string, args: string[], logFile?: string, wrapper: string[] = []): Promise<ShipperProcess> {
  const command = [...wrapper, process.execPath, RUNNER, ROOT, `--docker.host=${dockerHost}`, '--http.listen=127.0.0.1:0', '--docker.reconcile-interval=2s', ...args];
  const child = spawn(command[0]!, command.slice(1), {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  const spawnedAt = Date.now();
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); if (logFile) fs.appendFileSync(logFile, d); });
  await new Promise<void>((resolve, reject) => {
    // 60 s, not 20: a CI run's second shipper printed nothing in 20 s while another file started 50 containers at
    // once; starting node and loading the agent takes a fraction of a CPU second, which such a load spreads thin.
    const timer = setTimeout(() => reject(new Error(`shipper did not start within ${Date.now() - spawnedAt} ms (${describeStarvedProcess(child.pid)}):\n${err}`)), SHIPPER_START_TIMEOUT_MS);
    const check = () => { if (err.includes('SHIPPER READY')) { clearTimeout(timer); resolve(); } };
    child.stderr!.on('data', check);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`shipper exited with ${code}:\n${err}`)); });
  });
  const startMs = Date.now() - spawnedAt;
  if (startMs > 10_000) console.log(`shipper took ${startMs} ms to start (${describeStarvedProcess(child.pid)})`);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    stderr: () => err,
    kill9: async () => { child.kill('SIGKILL'); await exited; },
    stop: async () => { child.kill('SIGTERM'); return exited; },
  };
}

import { until } from '../support/until.js';

export { until };

/**
 * Per expected container: lines never received (`lost`), received more than once (`duplicated`), received after a
 * later line (`outOfOrder`), and `repeatRuns`: the most repeated stretches in any one container, in received
 * order (a repeated line that does not follow the previous repeated one starts a stretch). One write repeated by one
 * kill gives one stretch; a shipper that repeats at every kill (or resends from the start) gives one per kill.
 */
export function checkSequences(messages: Record<string, unknown>[], expected: Record<string, number>): { lost: number; duplicated: number; outOfOrder: number; repeatRuns: number } {
  const byName = new Map<string, number[]>();
  for (const m of messages) {
    const name = String(m._container_name);
    const n = Number(String(m.short_message).split(' ')[1]);
    if (!byName.has(name)) byName.set(name, []);
    byName.get(name)!.push(n);
  }
  let lost = 0, duplicated = 0, outOfOrder = 0, repeatRuns = 0;
  for (const [name, count] of Object.entries(expected)) {
    const seq = byName.get(name) ?? [];
    const seen = new Set<number>();
    let last = -1;
    let lastRepeat = -2;
    let runs = 0;
    for (const n of seq) {
      if (seen.has(n)) {
        duplicated++;
        // A repeat that does not continue the previous one starts a stretch (lines of a slow receiver's older
        // connection may arrive in between).
        if (n !== lastRepeat + 1) runs++;
        lastRepeat = n;
      } else if (n < last) outOfOrder++;
      seen.add(n);
      last = Math.max(last, n);
    }
    for (let i = 0; i < count; i++) if (!seen.has(i)) lost++;
    repeatRuns = Math.max(repeatRuns, runs);
  }
  return { lost, duplicated, outOfOrder, repeatRuns };
}

/** How many of the lines one connection (one shipper process) carried first arrived again on a later connection. */
export interface ConnectionRepeats {
  conn: number;
  repeated: number;
}

/**
 * For a receiver that stamps connections (`stampConnection`): per connection, how many lines it carried first came
 * again on a later one (a restarted shipper resending from its cursor). `sameConnection`: lines one connection
 * carried more than once (a shipper never repeats within a connection).
 */
export function repeatsByConnection(messages: Record<string, unknown>[]): { byConn: ConnectionRepeats[]; sameConnection: number } {
  const connsOf = new Map<string, number[]>();
  for (const m of messages) {
    const key = `${String(m._container_name)} ${String(m.short_message).split(' ')[1]}`;
    const conns = connsOf.get(key);
    if (conns) conns.push(Number(m.__conn)); else connsOf.set(key, [Number(m.__conn)]);
  }
  let sameConnection = 0;
  const repeated = new Map<number, number>();
  for (const conns of connsOf.values()) {
    if (new Set(conns).size < conns.length) sameConnection++;
    if (conns.length < 2) continue;
    const first = Math.min(...conns);
    repeated.set(first, (repeated.get(first) ?? 0) + 1);
  }
  const byConn = [...repeated].sort(([a], [b]) => a - b).map(([conn, n]) => ({ conn, repeated: n }));
  return { byConn, sameConnection };
}

/**
 * The most lines one write of the shipper can hold at this receiver's average message size: a batch is at most
 * `shipper.batch-size` (its default here). A kill -9 between a write and its commit repeats at most that one write.
 */
export function linesInOneWrite(stats: { bytes: number; messages: number }): number {
  const batchBytes = Number(shipperOptions.find((o) => o.key === 'shipper.batch-size')!.default);
  return Math.ceil(batchBytes / (stats.bytes / stats.messages)) + 1;
}

/**
 * What a shipper promises across kill -9s (docs/log-shipper.md, "No line lost"): no line twice on one connection,
 * and what came again is, per killed process (its connection), at most the one write the kill interrupted.
 */
export function expectOnlyInterruptedWritesRepeated(repeats: ReturnType<typeof repeatsByConnection>, stats: { bytes: number; messages: number }, label: string): void {
  const oneWrite = linesInOneWrite(stats);
  expect(repeats.sameConnection, `${label}: lines repeated within one connection`).toBe(0);
  for (const k of repeats.byConn) expect(k.repeated, `${label}: connection ${k.conn} repeated more lines than one write holds`).toBeLessThanOrEqual(oneWrite);
}

/** A busybox shell loop printing "<tag> 0" … "<tag> count-1", pausing `pauseMs` every `every` lines. */
export function counterScript(tag: string, count: number, every = 0, pauseUs = 0): string {
  const pause = every > 0 ? ` [ $((i % ${every})) -eq 0 ] && usleep ${pauseUs};` : '';
  return `i=0; while [ $i -lt ${count} ]; do echo "${tag} $i"; i=$((i+1));${pause} done`;
}

/**
 * A self-signed certificate for 127.0.0.1 (it is its own CA: pass `cert` as the shipper's `shipper.tls-ca`), so a
 * TLS receiver can be verified the way a real one is.
 */
export function selfSignedCert(dir: string): { cert: string; key: string } {
  const cert = path.join(dir, 'receiver.pem');
  const key = path.join(dir, 'receiver.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}

/** The shipper's own /metrics text (its address is in the READY line). */
export async function scrapeShipper(s: ShipperProcess): Promise<string> {
  const url = /SHIPPER READY (\S+)/.exec(s.stderr())?.[1];
  if (!url) throw new Error('the shipper has not announced its address');
  return fetch(`${url}/metrics`).then((res) => res.text());
}

/**
 * Value of `swarmwatch_shipper_dropped_total{reason=…}` in the shipper's /metrics. Every reason is exported from 0,
 * so a missing series is an error (a renamed metric or label), not a zero that would pass a "nothing dropped" test.
 */
export async function droppedTotal(s: ShipperProcess, reason: string): Promise<number> {
  const v = value(parseExposition(await scrapeShipper(s)), 'swarmwatch_shipper_dropped_total', { reason });
  if (v === undefined) throw new Error(`swarmwatch_shipper_dropped_total{reason="${reason}"} is missing from the shipper's /metrics`);
  return v;
}

/**
 * A busybox shell that prints "<tag> 0", "<tag> 1", … (`every` lines, then a pause of `pauseUs`: ≈2,000 lines/s by
 * default) until /tmp/stop exists in the container (`docker exec NAME sh -c ': > /tmp/stop'`): a stream that lasts
 * as long as the test needs it, however slow the machine. What it wrote is what its engine recorded (countLoggedLines).
 */
export function streamUntilStopScript(tag: string, every = 200, pauseUs = 100_000): string {
  return `i=0; while :; do echo "${tag} $i"; i=$((i+1)); if [ $((i % ${every})) -eq 0 ]; then [ -e /tmp/stop ] && break; usleep ${pauseUs}; fi; done`;
}

/** Lines a container wrote to stdout, as its engine recorded them: the reference a receiver is checked against. */
export async function countLoggedLines(engine: PrivateEngine, name: string): Promise<number> {
  const { stdout } = await engine.docker(['logs', name], { timeoutMs: 60_000 });
  return stdout.split('\n').filter(Boolean).length;
}

/**
 * A busybox shell that prints "<tag> 0" … "<tag> before-1", waits until /tmp/go exists in the container (`docker
 * exec NAME sh -c ': > /tmp/go'`), prints up to "<tag> total-1" at once and sleeps: tests decide when its burst comes.
 */
export function gatedCounterScript(tag: string, before: number, total: number): string {
  return `${counterScript(tag, before)}; while [ ! -e /tmp/go ]; do usleep 20000; done; ` +
    `i=${before}; while [ $i -lt ${total} ]; do echo "${tag} $i"; i=$((i+1)); done; exec sleep 3600`;
}

/** What shipperBed sets up for a test file; `shipper` is the test's own, stopped at the end if still running. */
export interface ShipperBed {
  engine: PrivateEngine;
  receiver: GelfReceiver;
  work: string;
  shipper?: ShipperProcess;
}

/** A private engine with the test image, a TCP receiver and a work dir for one test file, removed after it. */
export function shipperBed(engineName: string): ShipperBed {
  const bed = lanesBed(engineName) as LanesBed & ShipperBed;
  beforeAll(async () => {
    bed.receiver = await startGelfReceiver({ proto: 'tcp', dir: bed.work });
    bed.receivers.push(bed.receiver);
  });
  // Runs before lanesBed's (after hooks run in reverse): the test's shipper stops before its receiver and engine.
  afterAll(async () => { await bed.shipper?.stop().catch(() => undefined); });
  return bed;
}

/** One shipper with its own TCP receiver, in one read mode. */
export interface Lane {
  mode: 'api' | 'file';
  receiver: GelfReceiver;
  shipper: ShipperProcess;
  /** The shipper's destination, tcp://127.0.0.1:<receiver port>. */
  dest: string;
  /** Starts another shipper like this lane's (same options, state dir and log file): a restart after a stop. */
  restart(): Promise<ShipperProcess>;
}

/** What lanesBed sets up: a private engine, and the receivers and shippers a test adds (one pair per lane). */
export interface LanesBed {
  engine: PrivateEngine;
  receivers: GelfReceiver[];
  shippers: ShipperProcess[];
  work: string;
  /** A TCP receiver and a shipper sending to it in each read mode, with its own state dir and log file. */
  startLanes(args: string[]): Promise<Lane[]>;
}

/**
 * For tests that run several shippers side by side (one per read mode, say): a private engine with the test image
 * and a work dir; the shippers and receivers the test pushes are stopped after it, then the engine is removed.
 */
export function lanesBed(engineName: string, engineArgs: string[] = []): LanesBed {
  const bed = { receivers: [] as GelfReceiver[], shippers: [] as ShipperProcess[], work: fs.mkdtempSync(path.join(os.tmpdir(), `sw-${engineName}-`)) } as LanesBed;
  let calls = 0;
  bed.startLanes = (args) => {
    // Each call's lanes have state dirs of their own: shippers of two calls on one dir would wait for each other's lock.
    const suffix = calls++ === 0 ? '' : `-${calls}`;
    return Promise.all((['api', 'file'] as const).map(async (mode) => {
    const receiver = await startGelfReceiver({ proto: 'tcp', dir: bed.work });
    bed.receivers.push(receiver);
    const dest = `tcp://127.0.0.1:${receiver.port}`;
    const start = async () => {
      const shipper = await startShipper(bed.engine.dockerHost, [`--shipper.destination=${dest}`, `--shipper.state-dir=${path.join(bed.work, `state-${mode}${suffix}`)}`,
        `--shipper.read-mode=${mode}`, ...args], path.join(bed.work, `shipper-${mode}${suffix}.log`));
      bed.shippers.push(shipper);
      return shipper;
    };
    return { mode, receiver, shipper: await start(), dest, restart: start };
    }));
  };
  beforeAll(async () => {
    ensureBuild();
    bed.engine = await startEngine({ name: engineName, extraArgs: engineArgs });
    await ensureBusyboxImage(bed.engine);
  });
  afterAll(async () => {
    for (const s of bed.shippers) await s.stop().catch(() => undefined);
    for (const r of bed.receivers) await r.stop();
    await bed.engine?.stop();
    fs.rmSync(bed.work, { recursive: true, force: true });
  });
  return bed;
}

/**
 * Ends a streamUntilStopScript container, waits until every line it wrote (as its engine recorded them) is at each
 * lane's receiver, and one second more for anything sent twice; returns what each receiver got, checked.
 */
export async function finishStream(engine: PrivateEngine, lanes: readonly Lane[], name: string): Promise<{ written: number; results: Map<Lane, ReturnType<typeof checkSequences>> }> {
  await engine.docker(['exec', name, 'sh', '-c', ': > /tmp/stop']);
  await engine.docker(['wait', name], { timeoutMs: 60_000 });
  const expected = { [name]: await countLoggedLines(engine, name) };
  await until('every line', () => lanes.every((l) => checkSequences(l.receiver.messages(), expected).lost === 0), 60_000, 500);
  await new Promise((r) => setTimeout(r, 1000));
  return { written: expected[name]!, results: new Map(lanes.map((l) => [l, checkSequences(l.receiver.messages(), expected)])) };
}
