/**
 * npm run bench:shipper — swarmwatch's log shipper side by side with Docker's own gelf log driver, same generator
 * output, same independent receiver (test/receivers/gelf_receiver.py in counting mode), in one run on one private
 * engine. Reports lines/s as seen by the receiver, CPU seconds per 100k lines (shipper process + dockerd), and loss.
 *
 *   SWARMWATCH_BENCH_LINES=100000 npm run bench:shipper
 *   npm run bench:shipper -- --outage-only      (just the receiver-outage memory run; SWARMWATCH_BENCH_OUTAGE_S=60)
 *   SWARMWATCH_BENCH_ONLY='ours-file-tcp-none-1$|driver-tcp-none-1$' npm run bench:shipper   (a subset of settings)
 *   SWARMWATCH_BENCH_REPEAT=3 npm run bench:shipper   (TCP settings 3 times, interleaved; medians and ratios printed)
 *   SWARMWATCH_BENCH_ONLY='^catchup' npm run bench:shipper   (catch-up of containers that ran while no shipper did)
 *   SWARMWATCH_BENCH_ONLY=^restart npm run bench:shipper   (the cost of a restart beside a large live log)
 *   SWARMWATCH_BENCH_ONLY='^idle' npm run bench:shipper   (shipper CPU and line delay with containers that log little)
 *   SWARMWATCH_BENCH_TIMELINE=1 …   (messages received per 50 ms for each TCP run: where a sender stalls)
 *   SWARMWATCH_BENCH_SHIPPER_ARGS='--shipper.batch-size=262144' …   (more options for every run of ours)
 *   SWARMWATCH_BENCH_CPU_PROF=DIR …   (a V8 CPU profile of each run of ours)
 *   SWARMWATCH_BENCH_SHIPPER_ROOT=/path/to/other/checkout …   (run that build's shipper as ours: A/B of two builds)
 *   SWARMWATCH_BENCH_WARM_LINES=0 …   (no warm-up: measure a shipper that has just started; default 20,000 lines)
 *   SWARMWATCH_BENCH_CPU_BY_PROCESS=1 …   (CPU seconds per process name, runs of ours, and per cgroup, every run, from release to the last line)
 *   SWARMWATCH_BENCH_CGROUPS=flat …   (every process in the cgroup it was started in, not placed as systemd would: unit-cgroups.ts)
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import gelfPro from 'gelf-pro';
import { CLOCK_TICKS_PER_SECOND, ensureBusyboxImage, readProcStat, startEngine, type PrivateEngine } from '../test/bed/index.js';
import { GelfEncoder } from '../log-shipper/gelf-message.js';
import { parseEngineTime, toSeconds } from '../log-shipper/timestamp.js';
import { startGelfReceiver, type GelfReceiver } from '../test/receivers/gelf-receiver.js';
import { shippedNodeFlags } from './shipped-node-flags.js';
import { CGROUP_LAYOUT, cpuUsageByUnit, machineCpu, placeEngineLikeSystemd, placeInUnit } from './unit-cgroups.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const IMAGE = 'swarmwatch-test/busybox:1';
const LINES = Number(process.env.SWARMWATCH_BENCH_LINES ?? 100_000);
const DRIVER_GZIP_LINES = Number(process.env.SWARMWATCH_BENCH_GZIP_LINES ?? 10_000);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-shipper-bench-'));

interface Stats { messages: number; bytes: number; first_at: number; last_at: number; timeline?: [number, number][] }
/** SWARMWATCH_BENCH_TIMELINE=1 prints, per run, the messages received in each 50 ms from the first (where a sender waits). */
const TIMELINE = process.env.SWARMWATCH_BENCH_TIMELINE === '1';

function receiver(proto: 'tcp' | 'udp', wantedPort = 0): Promise<GelfReceiver> {
  return startGelfReceiver({ proto, port: wantedPort, countOnly: true, timeline: TIMELINE, dir: work });
}

/** User and system (kernel: reads, socket writes) CPU seconds of a process, from /proc/<pid>/stat. */
function procTimes(pid: number): { user: number; system: number } {
  const st = readProcStat(pid);
  if (!st) throw new Error(`process ${pid} is gone: no /proc/${pid}/stat`);
  return { user: st.utime / CLOCK_TICKS_PER_SECOND, system: st.stime / CLOCK_TICKS_PER_SECOND };
}

function cpuSeconds(pid: number): number {
  const t = procTimes(pid);
  return t.user + t.system;
}

function systemSeconds(pid: number): number {
  return procTimes(pid).system;
}

/**
 * Seconds the process's main thread spent runnable but waiting for a CPU, from /proc/<pid>/task/<pid>/schedstat
 * (its second field, in ns): high while the shipper has work and the machine is shared (with 50 containers, 50
 * containerd-shim processes copying their output to dockerd run beside it at the root of the CPU hierarchy).
 */
function runQueueSeconds(pid: number): number {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
  } catch {
    return NaN;
  }
}

/**
 * System calls that read and that write (/proc/<pid>/io syscr, syscw), minor page faults (/proc/<pid>/stat) and the main thread's context switches
 * (/proc/<pid>/status): how many times the shipper went to the kernel and gave up its CPU for the lines it shipped.
 */
function procCounters(pid: number): { reads: number; writes: number; voluntary: number; involuntary: number; minorFaults: number } {
  const [reads, writes] = procFields(pid, 'io', ['syscr', 'syscw']);
  const [voluntary, involuntary] = procFields(pid, 'status', ['voluntary_ctxt_switches', 'nonvoluntary_ctxt_switches']);
  return { reads: reads!, writes: writes!, voluntary: voluntary!, involuntary: involuntary!, minorFaults: readProcStat(pid)?.minorFaults ?? NaN };
}

/** The numbers of `name: value` lines of /proc/<pid>/<file> (status, io), NaN for a missing one. */
function procFields(pid: number, file: 'status' | 'io', names: string[]): number[] {
  const text = fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  return names.map((name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN));
}

/**
 * SWARMWATCH_BENCH_CPU_BY_PROCESS=1: CPU seconds per process name (live processes, with what they reaped from
 * exited children) from release to the last line of each run of ours, and per cgroup (unit-cgroups.ts cpuUsageByUnit)
 * for every run: who the shipper shares the cores with.
 */
const CPU_BY_PROCESS = process.env.SWARMWATCH_BENCH_CPU_BY_PROCESS === '1';
function cpuByProcessName(): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const st = readProcStat(Number(pid)); // undefined: exited meanwhile
    if (st) out.set(st.name, (out.get(st.name) ?? 0) + (st.utime + st.stime + st.cutime + st.cstime) / CLOCK_TICKS_PER_SECOND);
  }
  return out;
}

/** With CPU_BY_PROCESS, the CPU seconds of each unit, the containers and the rest of the machine between two readings (`span`: which). */
function printCpuByUnit(span: string, before: Map<string, number> | undefined, after: Map<string, number> | undefined): void {
  if (before && after && after.size > 0) console.error(`  CPU s by cgroup, ${span}: ${cpuByProcessDelta(before, after)}`);
}

function cpuByProcessDelta(before: Map<string, number>, after: Map<string, number>): string {
  return [...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const).filter(([, v]) => v >= 0.02).sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');
}

function rssMiB(pid: number): number {
  return (procFields(pid, 'status', ['VmRSS'])[0] || 0) / 1024; // kB
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the receiver reached `expected` or stopped growing for `quietMs`. */
async function settle(r: GelfReceiver, expected: number, quietMs: number, maxMs: number, onAllIn?: () => void): Promise<Stats> {
  const end = Date.now() + maxMs;
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const s = r.stats();
    if (s.messages >= expected) { onAllIn?.(); await sleep(600); return r.stats(); }
    if (s.messages !== last) { last = s.messages; lastChange = Date.now(); }
    if (Date.now() - lastChange > quietMs || Date.now() > end) return s;
    await sleep(200);
  }
}

/**
 * Each container waits at a barrier (a FIFO in a directory mounted read-only), then prints its share of the lines
 * (≈100 bytes each) as fast as it can, and exits; with `stayUp`, it sleeps on instead, as a service that logged a
 * burst does. Its shell waits in the kernel, opening the FIFO to read, at no CPU cost: the barrier before it, a file
 * looked for after each `usleep 10000`, forked ≈ 5,000 times a second with 50 containers waiting, kept the machine
 * 70–82 % busy before every release and, on a slow hour, made one of 50 `docker run` calls outlast its 120 s.
 */
const BENCH_LINE = 'swarmwatch benchmark line: the quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmnop';
function generator(lines: number, stayUp = false): string[] {
  return ['sh', '-c', `read _ < /barrier/go; yes "${BENCH_LINE}" | head -n ${lines}${stayUp ? '; exec sleep 3600' : ''}`];
}

/**
 * Rows "TCP, containers stay up": the same burst from containers that keep running afterwards. When 50 containers
 * exit together, the engine, containerd and the kernel tear them down (cgroups, namespaces, shims) for about a
 * second of both cores, under either sender (the containers exit 0.4–0.7 s after their release with either: the
 * driver delays an exit by a few hundred ms, not until its lines are sent); a reader of json-file logs is further
 * behind then. Which of the two an operator sees depends on their containers: both are measured.
 */
const STAYS_UP = ', containers stay up';

/**
 * Starts the containers, all held at the barrier; `release()` lets them write at once. Without the barrier the
 * figures with 50 containers measured how fast the engine starts containers (≈ 6 s for 50, json-file ceiling
 * ≈ 14k lines/s), not how fast lines are shipped.
 */
async function startContainers(engine: PrivateEngine, prefix: string, n: number, perContainer: number, logOpts: string[], stayUp = false): Promise<{ release(): void }> {
  const barrier = path.join(work, `${prefix}-barrier`);
  fs.rmSync(barrier, { recursive: true, force: true });
  fs.mkdirSync(barrier, { recursive: true });
  const fifo = path.join(barrier, 'go');
  execFileSync('mkfifo', [fifo]);
  const names = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  await Promise.all(names.map((name) => engine.docker(['run', '-d', '--network', 'none', '--name', name, '-v', `${barrier}:/barrier:ro`, ...logOpts, IMAGE, ...generator(perContainer, stayUp)])));
  await waitAtBarrier(engine, names);
  // Our shipper opens a reader per container from the engine's events; give it the moment a running node has had.
  await sleep(500);
  // Opening the FIFO lets every shell blocked in its open on; with no writer left, their read returns at once.
  return { release: () => fs.closeSync(fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK)) };
}

/**
 * Waits until every container's shell is blocked opening the barrier FIFO (`wait_for_partner` in
 * /proc/PID/wchan): a shell that reached it only after the release would wait for ever.
 */
async function waitAtBarrier(engine: PrivateEngine, names: string[]): Promise<void> {
  const pids = (await engine.docker(['inspect', '-f', '{{.State.Pid}}', ...names])).stdout.trim().split(/\s+/).map(Number);
  const waiting = (pid: number) => { try { return fs.readFileSync(`/proc/${pid}/wchan`, 'utf8') === 'wait_for_partner'; } catch { return false; } };
  const deadline = Date.now() + 60_000;
  for (;;) {
    const late = names.filter((_, i) => !waiting(pids[i]!));
    if (late.length === 0) return;
    if (Date.now() > deadline) throw new Error(`bench barrier: ${late.length} of ${names.length} containers (${late.slice(0, 5).join(', ')}) did not block on the barrier FIFO within 60 s; their /proc/PID/wchan must read wait_for_partner (a kernel without wchan cannot run this bench)`);
    await sleep(50);
  }
}

interface Row { who: string; setting: string; containers: number; lines: number; received: number; seconds: number; linesPerSec: number; cpuPer100k: number; note?: string }
const rows: Row[] = [];

/**
 * lines/s over the time from the containers' release to the last arrival (`releasedAt`, epoch seconds, same clock
 * as the receiver's): what an operator waits for a burst to be in Graylog. Measured from the first arrival
 * instead, a sender whose first message comes late looks faster than it is (its window starts after the
 * containers have written much of their output): with the V8 profiler on, ours "reached" 202k lines/s that way
 * in a run whose release-to-last time was the same as a 117k one. Runs without a release (catch-up) use first →
 * last arrival.
 */
function row(who: string, setting: string, containers: number, lines: number, s: Stats, cpu: number, note?: string, releasedAt?: number): void {
  const seconds = Math.max(s.last_at - (releasedAt ?? s.first_at), 0.001);
  if (releasedAt !== undefined) note = `first line ${((s.first_at - releasedAt) * 1000).toFixed(0)} ms after release${note ? `; ${note}` : ''}`;
  const r: Row = { who, setting, containers, lines, received: s.messages, seconds, linesPerSec: s.messages / seconds, cpuPer100k: (cpu / Math.max(s.messages, 1)) * 100_000, note };
  rows.push(r);
  console.error(`${who.padEnd(24)} ${setting.padEnd(14)} n=${String(containers).padStart(2)}  ${r.received}/${lines} lines  ${r.linesPerSec.toFixed(0).padStart(7)} lines/s  ${r.cpuPer100k.toFixed(2)} CPU s/100k  ${s.messages ? Math.round(s.bytes / s.messages) : 0} B/msg${note ? `  (${note})` : ''}`);
  if (s.timeline) console.error(`  per 50 ms: ${timelineOf(s.timeline).join(' ')}`);
}

/** Messages per 50 ms from the first arrival (the receiver counts per 10 ms). */
function timelineOf(slots: [number, number][]): number[] {
  const out: number[] = [];
  for (const [slot, n] of slots) {
    const i = Math.floor(slot / 5);
    while (out.length <= i) out.push(0);
    out[i]! += n;
  }
  return out;
}

/**
 * SWARMWATCH_BENCH_SHIPPER_ROOT: another checkout (built, with its own dist/) whose shipper runs as "ours", for an
 * A/B of two builds in the same hour with this run's bench code.
 */
const SHIPPER_ROOT = process.env.SWARMWATCH_BENCH_SHIPPER_ROOT ?? ROOT;

async function startShipperProcess(engine: PrivateEngine, args: string[], nodeFlags: string[] = []): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...nodeFlags, path.join(SHIPPER_ROOT, 'test/fixtures/shipper/run-shipper.mjs'), SHIPPER_ROOT, `--docker.host=${engine.dockerHost}`, '--http.listen=127.0.0.1:0', '--log.level=warn', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  // Deployed, the shipper is a container of the stack: a cgroup of its own beside the node's other containers.
  if (CGROUP_LAYOUT === 'units') placeInUnit(engine.cgroupParent, 'swarmwatch-log-shipper.scope', child.pid!);
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); process.stderr.write(d.toString().replace(/^SHIPPER READY.*\n/m, '')); if (err.includes('SHIPPER READY')) resolve(); });
    child.once('exit', (c) => reject(new Error(`shipper exited ${c}: ${err}`)));
  });
  return child;
}

/**
 * SWARMWATCH_BENCH_CPU_PROF=DIR writes a V8 CPU profile of each run of ours (every thread) into DIR, named after
 * the setting; the shipper then stops with SIGTERM, as a profile is written only at a clean exit.
 */
const CPU_PROF_DIR = process.env.SWARMWATCH_BENCH_CPU_PROF;
const profileFlags = () => (CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : []);

async function stopShipper(child: ChildProcess): Promise<void> {
  if (!CPU_PROF_DIR) { child.kill('SIGKILL'); return; }
  await new Promise<void>((resolve) => { child.once('exit', () => resolve()); child.kill('SIGTERM'); });
}

/** A non-default setting of ours measured beside the default in the same run (name suffix, label, options). */
interface Variant { suffix: string; label: string; args: string[] }
/** SWARMWATCH_BENCH_SHIPPER_ARGS: more options for every run of ours (e.g. "--shipper.batch-size=262144"), to try one. */
const EXTRA_ARGS = (process.env.SWARMWATCH_BENCH_SHIPPER_ARGS ?? '').split(/\s+/).filter(Boolean);
const ONE_THREAD: Variant = { suffix: '-onethread', label: ', one thread', args: ['--shipper.udp-send-thread=false'] };
/** The same-run baseline of shipper.cpu-weight: the shipper's cgroup left at a container's default weight. */
const DEFAULT_WEIGHT: Variant = { suffix: '-weight1', label: ', CPU weight 1x', args: ['--shipper.cpu-weight=1'] };

async function shipperRun(engine: PrivateEngine, n: number, proto: 'tcp' | 'udp', compression: string, mode: 'api' | 'file', variant?: Variant, stayUp = false): Promise<void> {
  const prefix = `ours-${mode}-${proto}-${compression}-${n}${variant?.suffix ?? ''}${stayUp ? '-up' : ''}`;
  if (!wanted(prefix)) return;
  const per = Math.floor(LINES / n);
  const r = await receiver(proto);
  const child = await startShipperProcess(engine, [`--shipper.destination=${proto}://127.0.0.1:${r.port}`, `--shipper.compression=${compression}`, `--shipper.state-dir=${path.join(work, prefix)}`, `--shipper.include-names=^${prefix}-`, `--shipper.read-mode=${mode}`, ...(variant?.args ?? []), ...EXTRA_ARGS], [...shippedNodeFlags(), ...profileFlags()]);
  await warmUp(engine, prefix, r);
  // Same conditions as the driver: the shipper is up and the containers started; CPU counted from their release.
  const start = await startContainers(engine, prefix, n, per, [], stayUp);
  const shipperCpu0 = cpuSeconds(child.pid!);
  const shipperSys0 = systemSeconds(child.pid!);
  const shipperWait0 = runQueueSeconds(child.pid!);
  const calls0 = procCounters(child.pid!);
  const dockerdCpu0 = cpuSeconds(engine.pid);
  const machine0 = machineCpu();
  const byProcess0 = CPU_BY_PROCESS ? cpuByProcessName() : undefined;
  const byUnit0 = CPU_BY_PROCESS ? cpuUsageByUnit(engine.cgroupParent) : undefined;
  start.release();
  const releasedAt = Date.now();
  const releasedMono = process.hrtime.bigint() / 1000n;
  let machine1: { busy: number; total: number } | undefined;
  let byProcess1: Map<string, number> | undefined;
  let byUnit1: Map<string, number> | undefined;
  let shipperWait1: number | undefined;
  let calls1: ReturnType<typeof procCounters> | undefined;
  const s = await settle(r, per * n, 5000, 120_000, () => { machine1 = machineCpu(); shipperWait1 = runQueueSeconds(child.pid!); calls1 = procCounters(child.pid!); if (byProcess0) { byProcess1 = cpuByProcessName(); byUnit1 = cpuUsageByUnit(engine.cgroupParent); } });
  // Per process counts what each reaped (cutime): a shim carries its container's CPU, init the shims'.
  if (byProcess0 && byProcess1) console.error(`  CPU s by process (with what each reaped), release to last line: ${cpuByProcessDelta(byProcess0, byProcess1)}`);
  printCpuByUnit('release to the poll that saw the last line (≤ 200 ms after it)', byUnit0, byUnit1);
  // The profile's sample times are the same monotonic clock in µs: the burst's window in it.
  if (CPU_PROF_DIR) console.error(`  profile window (monotonic µs, release to last line): ${releasedMono}:${releasedMono + BigInt(Math.round((s.last_at * 1000 - releasedAt) * 1000))}`);
  machine1 ??= machineCpu();
  // The part of the machine busy from the containers' start until the last line arrived: near 100 % means every
  // CPU-second we spend is taken from dockerd and the containers.
  const busy = (machine1.busy - machine0.busy) / Math.max(machine1.total - machine0.total, 0.001);
  const shipperCpu = cpuSeconds(child.pid!) - shipperCpu0;
  const shipperSys = systemSeconds(child.pid!) - shipperSys0;
  const shipperWait = (shipperWait1 ?? runQueueSeconds(child.pid!)) - shipperWait0;
  const cpu = shipperCpu + cpuSeconds(engine.pid) - dockerdCpu0;
  const rss = rssMiB(child.pid!);
  calls1 ??= procCounters(child.pid!);
  const per100k = (x: number) => ((x / Math.max(s.messages, 1)) * 100_000).toFixed(0);
  const calls = `per 100k lines ${per100k(calls1.reads - calls0.reads)} read and ${per100k(calls1.writes - calls0.writes)} write system calls, ${per100k(calls1.minorFaults - calls0.minorFaults)} page faults, main thread gave up its CPU ${per100k(calls1.voluntary - calls0.voluntary)} times and was preempted ${per100k(calls1.involuntary - calls0.involuntary)} times`;
  // When the containers had written everything: what is left after that is the shipper catching up alone.
  const written = await writtenSpan(engine, Array.from({ length: n }, (_, i) => `${prefix}-${i}`));
  const exited = stayUp ? '' : `, the last exited ${await lastExitAfter(engine, Array.from({ length: n }, (_, i) => `${prefix}-${i}`), releasedAt / 1000)}`;
  await stopShipper(child);
  await r.stop();
  const lost = per * n - s.messages;
  row(`swarmwatch (${mode}${variant?.label ?? ''})`, `${proto === 'tcp' ? 'TCP' : `UDP ${compression}`}${stayUp ? STAYS_UP : ''}`, n, per * n, s, cpu, `${lost > 0 ? `lost ${lost}` : 'no loss'}; containers done writing ${((written.last - releasedAt / 1000) * 1000).toFixed(0)} ms after release${exited}; shipper CPU ${((shipperCpu / Math.max(s.messages, 1)) * 100_000).toFixed(2)} s/100k (${((shipperSys / Math.max(shipperCpu, 1e-9)) * 100).toFixed(0)} % in the kernel; main thread waited ${shipperWait.toFixed(2)} s for a CPU in the ${(s.last_at - releasedAt / 1000).toFixed(2)} s from release to the last line; ${calls}); machine ${(busy * 100).toFixed(0)} % busy; RSS ${rss.toFixed(0)} MiB; node ${shippedNodeFlags().join(' ') || '(defaults)'}`, releasedAt / 1000);
  await engine.docker(['rm', '-f', ...Array.from({ length: n }, (_, i) => `${prefix}-${i}`)]);
}

/**
 * SWARMWATCH_BENCH_WARM_LINES (default 20,000; 0: none): before the measured release, one container sends this many
 * lines through the shipper, not counted (the receiver starts its counts again). A shipper on a node has been
 * running for days when a burst comes, its hot path compiled; a fresh process runs its first thousands of lines
 * in V8's interpreter: measured cold, the first of 10 containers' lines reached the receiver 90–560 ms after their
 * release (the driver's: 2–19 ms), most of it before the parse and encode code was optimized. Catch-up rows stay
 * cold: that is a restart.
 */
const WARM_LINES = Math.min(Number(process.env.SWARMWATCH_BENCH_WARM_LINES ?? 20_000), Math.floor(LINES / 2));
async function warmUp(engine: PrivateEngine, prefix: string, r: GelfReceiver): Promise<void> {
  if (WARM_LINES <= 0) return;
  const { names } = await runToExit(engine, `${prefix}-warm`, 1, WARM_LINES);
  const s = await settle(r, WARM_LINES, 5000, 60_000);
  if (s.messages < WARM_LINES) throw new Error(`warm-up: ${s.messages} of ${WARM_LINES} lines arrived`);
  await engine.docker(['rm', '-f', ...names]);
  r.restartCounts();
}

async function driverRun(engine: PrivateEngine, n: number, proto: 'tcp' | 'udp', compression: string, total: number, stayUp = false): Promise<void> {
  const prefix = `driver-${proto}-${compression}-${n}${stayUp ? '-up' : ''}`;
  if (!wanted(prefix)) return;
  const per = Math.floor(total / n);
  const r = await receiver(proto);
  const opts = ['--log-driver', 'gelf', '--log-opt', `gelf-address=${proto}://127.0.0.1:${r.port}`];
  if (proto === 'udp') opts.push('--log-opt', `gelf-compression-type=${compression}`);
  let dockerd0 = 0;
  let dockerd1: number | undefined;
  let byUnit0: Map<string, number> | undefined;
  let byUnit1: Map<string, number> | undefined;
  const beforeRelease = () => { dockerd0 = cpuSeconds(engine.pid); if (CPU_BY_PROCESS) byUnit0 = cpuUsageByUnit(engine.cgroupParent); };
  // Containers that stay up do not exit: the run ends when the receiver has every line.
  const { names, releasedAt } = stayUp
    ? await startAndRelease(engine, prefix, n, per, beforeRelease, opts, true)
    : await runToExit(engine, prefix, n, per, beforeRelease, opts);
  const s = await settle(r, per * n, 3000, 60_000, () => { dockerd1 = cpuSeconds(engine.pid); if (byUnit0) byUnit1 = cpuUsageByUnit(engine.cgroupParent); });
  // The driver's run waits for its containers to exit before it polls the receiver: their teardown is in the span.
  printCpuByUnit(stayUp ? 'release to the poll that saw the last line (≤ 200 ms after it)' : 'release to after every container exited', byUnit0, byUnit1);
  const cpu = (dockerd1 ?? cpuSeconds(engine.pid)) - dockerd0;
  await r.stop();
  const lost = per * n - s.messages;
  const exited = stayUp ? '' : `; the last container exited ${await lastExitAfter(engine, names, releasedAt)}`;
  row("Docker's gelf driver", `${proto === 'tcp' ? 'TCP' : `UDP ${compression}`}${stayUp ? STAYS_UP : ''}`, n, per * n, s, cpu, `${lost > 0 ? `lost ${lost} (${((lost / (per * n)) * 100).toFixed(0)}%)` : 'no loss'}${exited}`, releasedAt);
  await engine.docker(['rm', '-f', ...names]);
}

/**
 * Starts the containers at the barrier, releases them (`beforeRelease` first) and waits until all exited; their
 * names and the release time (epoch seconds).
 */
async function runToExit(engine: PrivateEngine, prefix: string, n: number, per: number, beforeRelease?: () => void, logOpts: string[] = []): Promise<{ names: string[]; releasedAt: number }> {
  const started = await startAndRelease(engine, prefix, n, per, beforeRelease, logOpts);
  await engine.docker(['wait', ...started.names], { timeoutMs: 180_000 });
  return started;
}

/** Starts the containers at the barrier and releases them (`beforeRelease` first); their names and the release time. */
async function startAndRelease(engine: PrivateEngine, prefix: string, n: number, per: number, beforeRelease?: () => void, logOpts: string[] = [], stayUp = false): Promise<{ names: string[]; releasedAt: number }> {
  const start = await startContainers(engine, prefix, n, per, logOpts, stayUp);
  beforeRelease?.();
  start.release();
  return { names: Array.from({ length: n }, (_, i) => `${prefix}-${i}`), releasedAt: Date.now() / 1000 };
}

/** The json-file log of a container of this engine. */
async function jsonLogOf(engine: PrivateEngine, name: string): Promise<string> {
  const id = (await engine.docker(['inspect', '-f', '{{.Id}}', name])).stdout.trim();
  return path.join(engine.dataRoot, 'containers', id, `${id}-json.log`);
}

/** Engine timestamps of the first and last line in the containers' json-file logs, and how many lines they hold. */
async function writtenSpan(engine: PrivateEngine, names: string[]): Promise<{ first: number; last: number; lines: number }> {
  let first = Infinity;
  let last = 0;
  let lines = 0;
  const seconds = (line: string) => toSeconds(parseEngineTime((JSON.parse(line) as { time: string }).time)!);
  for (const name of names) {
    const text = fs.readFileSync(await jsonLogOf(engine, name), 'utf8').trimEnd().split('\n');
    lines += text.length;
    first = Math.min(first, seconds(text[0]!));
    last = Math.max(last, seconds(text.at(-1)!));
  }
  return { first, last, lines };
}

/**
 * When the last of the containers exited, in ms after the release (waits for any still running): Docker's
 * gelf driver holds a container until the driver has taken its lines, a json-file reader never does. Which of the
 * two an operator's containers pay is this figure.
 */
async function lastExitAfter(engine: PrivateEngine, names: string[], releasedAtSeconds: number): Promise<string> {
  await engine.docker(['wait', ...names], { timeoutMs: 180_000 });
  const finished = (await engine.docker(['inspect', '-f', '{{.State.FinishedAt}}', ...names])).stdout.trim().split('\n');
  const last = Math.max(...finished.map((at) => toSeconds(parseEngineTime(at)!)));
  return `${((last - releasedAtSeconds) * 1000).toFixed(0)} ms after release`;
}

/**
 * The ceiling for any shipper that reads json-file logs: the same containers with no reader at all, lines/s from
 * their release to the last engine timestamp in their log files.
 */
async function ceilingRun(engine: PrivateEngine, n: number): Promise<void> {
  const prefix = `ceiling-${n}`;
  if (!wanted(prefix)) return;
  const per = Math.floor(LINES / n);
  let dockerd0 = 0;
  const { names, releasedAt } = await runToExit(engine, prefix, n, per, () => { dockerd0 = cpuSeconds(engine.pid); });
  const cpu = cpuSeconds(engine.pid) - dockerd0;
  const { first, last, lines } = await writtenSpan(engine, names);
  row('json-file alone (no reader)', 'TCP', n, per * n, { messages: lines, bytes: 0, first_at: first, last_at: last }, cpu, 'ceiling for a json-file reader: engine timestamps of the first and last line; CPU is dockerd\'s', releasedAt);
  await engine.docker(['rm', '-f', ...names]);
}

/**
 * Catch-up after a restart: the containers print their lines and exit while no shipper runs; 6 s later the shipper
 * starts and ships everything from their json-file logs (Docker's gelf driver has no equivalent: what it could not
 * send is lost). lines/s first → last arrival; CPU counted from the shipper's READY line.
 */
async function catchUpRun(engine: PrivateEngine, n: number): Promise<void> {
  const prefix = `catchup-${n}`;
  if (!wanted(prefix)) return;
  const per = Math.floor(LINES / n);
  const { names } = await runToExit(engine, prefix, n, per);
  await sleep(6000);
  const r = await receiver('tcp');
  const child = await startShipperProcess(engine, ['--shipper.destination=tcp://127.0.0.1:' + r.port, `--shipper.state-dir=${path.join(work, prefix)}`, `--shipper.include-names=^${prefix}-`, ...EXTRA_ARGS], [...shippedNodeFlags(), ...profileFlags()]);
  const cpu0 = cpuSeconds(child.pid!);
  const s = await settle(r, per * n, 5000, 120_000);
  const cpu = cpuSeconds(child.pid!) - cpu0;
  await stopShipper(child);
  await r.stop();
  const lost = per * n - s.messages;
  row('swarmwatch (file), catch-up', 'TCP', n, per * n, s, cpu, `${lost > 0 ? `lost ${lost}` : 'no loss'}; containers exited 6 s before the shipper started; CPU is the shipper's`);
  await engine.docker(['rm', '-f', ...names]);
}

/**
 * A restart beside a container with a large live log: one container (it stays up) writes RESTART_LINES lines, the
 * shipper ships them and stops (SIGTERM: cursors at the end), a new shipper starts on the same state. Printed: the
 * new shipper's CPU seconds from its start to RESTART_WATCH_S after its READY line (nothing is left to ship: loading
 * and finding its place in the log), and how many lines it sent again (must be 0).
 */
const RESTART_LINES = Number(process.env.SWARMWATCH_BENCH_RESTART_LINES ?? 1_000_000);
const RESTART_WATCH_S = 3;
async function restartRun(engine: PrivateEngine): Promise<void> {
  const prefix = 'restart-big';
  if (!wanted(prefix)) return;
  const r = await receiver('tcp');
  const args = [`--shipper.destination=tcp://127.0.0.1:${r.port}`, `--shipper.state-dir=${path.join(work, prefix)}`, `--shipper.include-names=^${prefix}-`, ...EXTRA_ARGS];
  const first = await startShipperProcess(engine, args, shippedNodeFlags());
  // The burst, then 10 lines 6 s later: a log that spans more time than the margin a resumed read starts before
  // its cursor (json-file-source.ts, SEEK_MARGIN_S), as any container that has run for a while has.
  await engine.docker(['run', '-d', '--network', 'none', '--name', `${prefix}-0`, IMAGE, 'sh', '-c', `yes "${BENCH_LINE}" | head -n ${RESTART_LINES}; sleep 6; yes "${BENCH_LINE}" | head -n 10; exec sleep 3600`]);
  const shipped = await settle(r, RESTART_LINES + 10, 8000, 180_000);
  await new Promise<void>((resolve) => { first.once('exit', () => resolve()); first.kill('SIGTERM'); });
  const second = await startShipperProcess(engine, args, [...shippedNodeFlags(), ...profileFlags()]);
  await sleep(RESTART_WATCH_S * 1000);
  const cpu = cpuSeconds(second.pid!);
  const again = r.stats().messages - shipped.messages;
  await stopShipper(second);
  await r.stop();
  const { lines } = await writtenSpan(engine, [`${prefix}-0`]);
  const mib = fs.statSync(await jsonLogOf(engine, `${prefix}-0`)).size / 1048576;
  const note = `restart beside a live log of ${lines} lines (${mib.toFixed(0)} MiB): shipper CPU ${cpu.toFixed(2)} s from its start to ${RESTART_WATCH_S} s after READY; lines sent again ${again}`;
  console.error(note);
  restartReport += `${note}\n`;
  await engine.docker(['rm', '-f', `${prefix}-0`]);
}
let restartReport = '';

/**
 * What the shipper costs while its containers log little: shipper CPU per second with `n` containers that each
 * print one line every `everyMs` (0: none at all), measured over IDLE_S seconds after a settle, beside the same
 * shipper with no container at all (the baseline, same run). Also the delay from a line's engine timestamp to its
 * arrival at the receiver (median and worst), which is what the json-file reader's idle wait costs in latency.
 */
const IDLE_S = Number(process.env.SWARMWATCH_BENCH_IDLE_S ?? 20);
async function idleRun(engine: PrivateEngine, n: number, everyMs: number): Promise<void> {
  const prefix = `idle-${n}-${everyMs}`;
  if (!wanted(prefix)) return;
  const r = await startGelfReceiver({ proto: 'tcp', port: 0, stampArrival: true, dir: work });
  const child = await startShipperProcess(engine, ['--shipper.destination=tcp://127.0.0.1:' + r.port, `--shipper.state-dir=${path.join(work, prefix)}`, `--shipper.include-names=^${prefix}-`, ...EXTRA_ARGS], [...shippedNodeFlags(), ...profileFlags()]);
  const script = everyMs > 0 ? `i=0; while true; do echo "idle bench line $i"; i=$((i+1)); usleep ${everyMs * 1000}; done` : 'exec sleep 3600';
  const names = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  // Ten at a time: 200 `docker run` at once took longer than the 120 s each is given on a slow hour of this machine.
  for (let i = 0; i < names.length; i += 10) {
    await Promise.all(names.slice(i, i + 10).map((name) => engine.docker(['run', '-d', '--network', 'none', '--name', name, IMAGE, 'sh', '-c', script])));
  }
  await sleep(5000);
  const from = r.messages().length;
  const cpu0 = cpuSeconds(child.pid!);
  const t0 = Date.now();
  await sleep(IDLE_S * 1000);
  const cpu = cpuSeconds(child.pid!) - cpu0;
  const seconds = (Date.now() - t0) / 1000;
  const received = r.messages().slice(from);
  const delays = received.map((m) => Number(m.__arrival) - Number(m.timestamp)).sort((a, b) => a - b);
  const late = received.filter((m) => Number(m.__arrival) - Number(m.timestamp) > 0.5);
  await stopShipper(child);
  await r.stop();
  if (n > 0) await engine.docker(['rm', '-f', ...names]);
  const ms = (x: number | undefined) => (x === undefined ? '–' : `${(x * 1000).toFixed(1)} ms`);
  const note = `shipper CPU ${((cpu / seconds) * 1000).toFixed(1)} ms per second over ${seconds.toFixed(0)} s` +
    (delays.length > 0 ? `; ${delays.length} lines, engine time → receiver: median ${ms(delays[Math.floor(delays.length / 2)])}, p99 ${ms(delays[Math.floor(delays.length * 0.99)])}, worst ${ms(delays.at(-1))}${late.length > 0 ? ` (${late.length} lines over 500 ms, from ${new Set(late.map((m) => m._container_name)).size} containers: ${[...new Set(late.map((m) => `${String(m._container_name)} ${String(m._container_id).slice(0, 12)}`))].join(', ')})` : ''}` : '');
  idleReport.push(`| ${n} | ${everyMs > 0 ? `1 line / ${everyMs} ms each` : 'none (sleep)'} | ${note} |`);
  console.error(`idle: ${n} containers, ${everyMs > 0 ? `a line every ${everyMs} ms each` : 'silent'}: ${note}`);
}
const idleReport: string[] = [];

/** Runs only the settings whose name matches (e.g. "ours-file-tcp-none-1|driver-tcp-none-1"); the outage run is "outage". */
const ONLY = process.env.SWARMWATCH_BENCH_ONLY ? new RegExp(process.env.SWARMWATCH_BENCH_ONLY) : undefined;
const wanted = (name: string) => !ONLY || ONLY.test(name);

const REPEAT = Math.max(1, Number(process.env.SWARMWATCH_BENCH_REPEAT ?? 1));

/** Median lines/s per sender, transport and container count, with each of ours as a ratio to the driver's median. */
function medians(): string {
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    if (!r.containers) continue;
    const key = `${r.who}|${r.setting}|${r.containers}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const median = (xs: number[]) => { const a = [...xs].sort((x, y) => x - y); return a.length % 2 ? a[(a.length - 1) / 2]! : (a[a.length / 2 - 1]! + a[a.length / 2]!) / 2; };
  const out = ['| sender | transport | containers | runs | median lines/s | range | median / driver (same transport, same containers) | median / json-file ceiling |', '| --- | --- | ---: | ---: | ---: | --- | ---: | ---: |'];
  for (const [key, rs] of groups) {
    const [who, setting, n] = key.split('|');
    const m = median(rs.map((r) => r.linesPerSec));
    const driver = groups.get(`Docker's gelf driver|${setting}|${n}`);
    const ratio = driver && !who!.startsWith('Docker') && !who!.startsWith('json-file') ? `${(m / median(driver.map((r) => r.linesPerSec))).toFixed(2)}×` : '';
    const ceiling = groups.get(`json-file alone (no reader)|TCP|${n}`);
    const ofCeiling = ceiling && setting === 'TCP' && !who!.startsWith('json-file') ? `${(m / median(ceiling.map((r) => r.linesPerSec))).toFixed(2)}` : '';
    const lo = Math.min(...rs.map((r) => r.linesPerSec)), hi = Math.max(...rs.map((r) => r.linesPerSec));
    out.push(`| ${who} | ${setting} | ${n} | ${rs.length} | ${m.toFixed(0)} | ${lo.toFixed(0)}–${hi.toFixed(0)} | ${ratio} | ${ofCeiling} |`);
  }
  return out.join('\n');
}

const OUTAGE_S = Number(process.env.SWARMWATCH_BENCH_OUTAGE_S ?? 60);
let outageReport = '';

/**
 * Memory during a receiver outage, as shipped (default read mode, buffer and V8 flags): 10 containers log
 * ≈ 500 lines/s each; RSS is sampled every 250 ms for 10 s with the receiver up (the baseline, same run), then
 * through an outage of OUTAGE_S seconds, then through the catch-up. Every line must arrive afterwards.
 */
async function outageRun(engine: PrivateEngine): Promise<void> {
  const prefix = 'outage';
  const n = 10;
  const perSecond = 500;
  const seconds = OUTAGE_S + 25;
  const per = perSecond * seconds;
  let r = await receiver('tcp');
  const port = r.port;
  const flags = shippedNodeFlags();
  const child = await startShipperProcess(engine, [`--shipper.destination=tcp://127.0.0.1:${port}`, `--shipper.state-dir=${path.join(work, prefix)}`, `--shipper.include-names=^${prefix}-`], flags);
  const samples: { phase: string; rss: number }[] = [];
  let phase = 'receiver up';
  const sampler = setInterval(() => { try { samples.push({ phase, rss: rssMiB(child.pid!) }); } catch { /* exited */ } }, 250);
  // ≈ 500 lines/s per container: 50 lines, then 100 ms of sleep.
  const script = `i=0; while [ $i -lt ${per} ]; do echo "outage line $i of a container that keeps logging while the receiver is away"; i=$((i+1)); [ $((i % 50)) -eq 0 ] && usleep 100000; done`;
  await Promise.all(Array.from({ length: n }, (_, i) => engine.docker(['run', '-d', '--network', 'none', '--name', `${prefix}-${i}`, IMAGE, 'sh', '-c', script])));
  await sleep(10_000);
  await r.stop();
  const before = r.stats().messages; // final: the receiver records what its connections held when it stopped
  phase = 'receiver down';
  console.error(`outage: receiver stopped after ${before} lines; down for ${OUTAGE_S} s`);
  await sleep(OUTAGE_S * 1000);
  phase = 'catch-up';
  r = await receiver('tcp', port);
  await engine.docker(['wait', ...Array.from({ length: n }, (_, i) => `${prefix}-${i}`)], { timeoutMs: 300_000 });
  const s = await settle(r, per * n - before, 5000, 120_000);
  clearInterval(sampler);
  const cpu = cpuSeconds(child.pid!);
  child.kill('SIGKILL');
  await r.stop();
  await engine.docker(['rm', '-f', ...Array.from({ length: n }, (_, i) => `${prefix}-${i}`)]);
  const peak = (p: string) => Math.max(0, ...samples.filter((x) => x.phase === p).map((x) => x.rss));
  const received = before + s.messages;
  const total = per * n;
  // The receiver's SIGTERM closes connections: batches sent in the last second before the break are sent again
  // on reconnect (docs/log-shipper.md), so received may exceed total by that replay.
  outageReport = [
    `| phase | seconds | peak RSS MiB |`,
    `| --- | ---: | ---: |`,
    `| receiver up (baseline) | 10 | ${peak('receiver up').toFixed(1)} |`,
    `| receiver down | ${OUTAGE_S} | ${peak('receiver down').toFixed(1)} |`,
    `| catch-up (receiver back until every line arrived) | ${(s.last_at - s.first_at).toFixed(0)} | ${peak('catch-up').toFixed(1)} |`,
    '',
    `${n} containers × ${perSecond} lines/s, ${total} lines; received ${received} (${received >= total ? `0 lost${received > total ? `, ${received - total} replayed after the break` : ''}` : `${total - received} LOST`}); node flags: ${flags.join(' ') || 'none'}; shipper CPU ${cpu.toFixed(1)} s.`,
  ].join('\n');
  console.error(outageReport);
}

/** Why gelf-pro's message builder and adapters are not on the hot path: measured, not assumed. */
async function gelfProComparison(): Promise<void> {
  const fields = { container_id: 'a'.repeat(64), container_name: 'web.1.abc', image_id: 'sha256:' + 'b'.repeat(64), image_name: 'busybox', command: 'sh -c x', tag: 'aaaaaaaaaaaa', created: '2026-01-01T00:00:00.123456789Z' };
  const n = 100_000;
  let t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) gelfPro.getStringFromObject({ short_message: `line ${i}`, host: 'h', level: 6, timestamp: 1700000000.123, ...fields });
  const proNs = Number(process.hrtime.bigint() - t) / n;
  const enc = new GelfEncoder(Object.fromEntries(Object.entries(fields).map(([k, v]) => [`_${k}`, v])), 'h');
  t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) enc.encode({ shortMessage: `line ${i}`, time: { sec: 1700000000, nsec: i }, level: 6 });
  const oursNs = Number(process.hrtime.bigint() - t) / n;
  console.error(`message building: gelf-pro ${(1e9 / proNs).toFixed(0)} msg/s, ours ${(1e9 / oursNs).toFixed(0)} msg/s`);
  // gelf-pro's TCP adapter: a new connection per message.
  const r = await receiver('tcp');
  gelfPro.setConfig({ adapterName: 'tcp', adapterOptions: { host: '127.0.0.1', port: r.port } as never, fields: {} });
  const m = 5000;
  const t0 = Date.now();
  let done = 0;
  await new Promise<void>((resolve) => {
    let inflight = 0;
    let sent = 0;
    const pump = () => {
      while (inflight < 50 && sent < m) {
        inflight++; sent++;
        gelfPro.message('gelf-pro line', 6, {}, () => { inflight--; done++; if (done === m) resolve(); else pump(); });
      }
    };
    pump();
  });
  const secs = (Date.now() - t0) / 1000;
  await sleep(800);
  const got = r.stats().messages;
  await r.stop();
  console.error(`gelf-pro tcp adapter: ${m} messages in ${secs.toFixed(2)} s = ${(m / secs).toFixed(0)} msg/s (receiver counted ${got})`);
  rows.push({ who: 'gelf-pro tcp adapter', setting: 'TCP', containers: 0, lines: m, received: got, seconds: secs, linesPerSec: m / secs, cpuPer100k: NaN, note: `message building alone: gelf-pro ${(1e9 / proNs / 1000).toFixed(0)}k msg/s vs ours ${(1e9 / oursNs / 1000).toFixed(0)}k msg/s` });
}

async function main(): Promise<void> {
  const outageOnly = process.argv.includes('--outage-only');
  console.error(`swarmwatch shipper benchmark: ${LINES} lines per setting (driver gzip: ${DRIVER_GZIP_LINES}), ${os.cpus().length} cores`);
  const engine = await startEngine({ name: 'shipbench', defaultBridge: false });
  try {
    if (CGROUP_LAYOUT === 'units') placeEngineLikeSystemd(engine);
    console.error(`CPU cgroups: ${CGROUP_LAYOUT === 'units' ? `dockerd, containerd (with its shims) and our shipper each in a cgroup of their own under ${engine.cgroupParent}, beside the containers', as on a systemd node` : 'every process where it was started (flat)'}`);
    await ensureBusyboxImage(engine);
    if (!outageOnly) {
      if (wanted('gelf-pro')) await gelfProComparison();
      // TCP settings are repeated REPEAT times, interleaved (ours, driver, ours, driver…): the driver's own figure
      // moves 2–3× between runs on a shared machine, so the ratio is read from medians.
      for (const n of [1, 10, 50]) {
        for (let rep = 0; rep < REPEAT; rep++) {
          await ceilingRun(engine, n);
          await shipperRun(engine, n, 'tcp', 'none', 'api');
          await shipperRun(engine, n, 'tcp', 'none', 'file');
          if (n === 50) await shipperRun(engine, n, 'tcp', 'none', 'file', DEFAULT_WEIGHT);
          await driverRun(engine, n, 'tcp', 'none', LINES);
        }
      }
      for (const n of [10, 50]) {
        for (let rep = 0; rep < REPEAT; rep++) {
          await shipperRun(engine, n, 'tcp', 'none', 'file', undefined, true);
          await driverRun(engine, n, 'tcp', 'none', LINES, true);
        }
      }
      for (const n of [10, 50]) for (let rep = 0; rep < REPEAT; rep++) await catchUpRun(engine, n);
      for (let rep = 0; rep < REPEAT; rep++) await restartRun(engine);
      for (let rep = 0; rep < REPEAT; rep++) for (const [n, everyMs] of [[0, 0], [50, 0], [50, 1000], [200, 1000]] as const) await idleRun(engine, n, everyMs);
      // UDP gzip: ours as shipped (send thread), ours on one thread (the same-run baseline of the send thread),
      // and the driver, interleaved as TCP.
      for (const n of [1, 10]) {
        for (let rep = 0; rep < REPEAT; rep++) {
          if (n === 10) await shipperRun(engine, n, 'udp', 'gzip', 'api');
          await shipperRun(engine, n, 'udp', 'gzip', 'file');
          await shipperRun(engine, n, 'udp', 'gzip', 'file', ONE_THREAD);
          await driverRun(engine, n, 'udp', 'gzip', DRIVER_GZIP_LINES);
        }
      }
    }
    if (wanted('outage')) await outageRun(engine);
  } finally {
    await engine.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
  if (rows.length > 0) {
    console.log('| sender | transport | containers | lines sent | received | lines/s | CPU s per 100k lines | note |');
    console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const r of rows) console.log(`| ${r.who} | ${r.setting} | ${r.containers || '–'} | ${r.lines} | ${r.received} | ${r.linesPerSec.toFixed(0)} | ${Number.isNaN(r.cpuPer100k) ? '–' : r.cpuPer100k.toFixed(2)} | ${r.note ?? ''} |`);
    console.log('');
    console.log(medians());
    console.log('');
  }
  if (idleReport.length > 0) console.log(`Containers that log little (shipper as shipped, TCP):\n\n| containers | output | shipper |\n| ---: | --- | --- |\n${idleReport.join('\n')}\n`);
  if (restartReport) console.log(`\n${restartReport}`);
  if (outageReport) console.log(`Receiver outage of ${OUTAGE_S} s (TCP, as shipped):\n\n${outageReport}`);
}

main().catch((err) => { console.error(err); process.exit(1); });
