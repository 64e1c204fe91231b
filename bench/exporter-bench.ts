/**
 * Exporter benchmark: the container collector's scrape cost against the raw-read floor, and against Netdata.
 *
 *   npm run bench:exporter                       synthetic trees (v1 and v2) of 100, 1,000, 10,000 containers
 *   npm run bench:exporter -- --sizes 100,1000   other sizes
 *   npm run bench:exporter -- --keep             keep the generated trees (for --child-rss runs by hand)
 *   npm run bench:exporter -- --real 100         CPU per scrape on 100 real busybox containers (private engine)
 *   npm run bench:exporter -- --netdata 200      us vs Netdata's cgroups collector on 200 real containers
 *
 * Synthetic mode: a host root with a cgroup tree (v1 laid out like this test bed: separate cpu and cpuacct mounts;
 * or v2 unified) and /proc/<pid>/{cgroup,net/dev} per container is generated in a temp dir. Each size runs in a
 * fresh child process (clean RSS). Floors, measured in the same child on the same file list (exactly the files
 * one steady-state scrape reads): (a) a minimal C program (cc -O2, compiled here) reading every file once,
 * (b) a Node readFileSync loop.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileReader } from '../exporter/cgroup/fastread.js';
import { createContainerCollector, type ContainerSource } from '../exporter/collectors/container.js';
import type { ContainerRecord } from '../core/state/types.js';
import { shippedNodeFlags } from './shipped-node-flags.js';

// The --child-rss process measures the collector alone: the harness's own modules load only in the other modes.
const rssOnly = process.argv[2] === '--child-rss';
const { spawn, spawnSync } = rssOnly ? ({} as typeof import('node:child_process')) : await import('node:child_process');
const http = rssOnly ? ({} as typeof import('node:http')) : await import('node:http');

const here = path.dirname(fileURLToPath(import.meta.url));
const FIX = [path.resolve(here, '../../test/fixtures/cgroup'), path.resolve(here, '../test/fixtures/cgroup')].find((p) => fs.existsSync(p))!;

const args = process.argv.slice(2);
function arg(name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const ms = (x: number) => x.toFixed(2);
/** The node flags the agent ships with (scripts/start.sh, deploy/Dockerfile); the RSS column runs with them. */
const SHIPPED_FLAGS = shippedNodeFlags();
const mib = (x: number) => (x / 1048576).toFixed(1);

// ---------------------------------------------------------------------------------------------------------
// Synthetic host roots
// ---------------------------------------------------------------------------------------------------------
const V1_SRC = path.join(FIX, 'v1/sys/fs/cgroup');
const V1_ID = '192d8b5da3f35e6ee96b07728c654768c7df60271b603bb4c5940364cb29d693';
const V2_SRC = path.join(FIX, 'v2/sys/fs/cgroup/system.slice/docker-aaaa000000000000000000000000000000000000000000000000000000000001.scope');
const NET_DEV = fs.readFileSync(path.join(FIX, 'v2/proc/4242/net/dev'));

function idOf(i: number): string {
  return i.toString(16).padStart(8, '0').repeat(8);
}

function generate(root: string, mode: 'v1' | 'v2', n: number): void {
  const cg = path.join(root, 'sys/fs/cgroup');
  fs.mkdirSync(path.join(root, 'proc'), { recursive: true });
  fs.copyFileSync(path.join(FIX, 'v2/proc/partitions'), path.join(root, 'proc/partitions'));
  const controllers = ['cpu', 'cpuacct', 'memory', 'blkio', 'pids'];
  const files: Array<[string, string]> = [];
  const tpl = path.join(root, 'template');
  fs.mkdirSync(tpl, { recursive: true });
  if (mode === 'v1') {
    for (const c of [...controllers, 'cpuset', 'devices', 'freezer', 'systemd']) fs.mkdirSync(path.join(cg, c), { recursive: true });
    for (const c of controllers) for (const f of fs.readdirSync(path.join(V1_SRC, c, 'swrec', V1_ID))) files.push([`${c}/${f}`, path.join(V1_SRC, c, 'swrec', V1_ID, f)]);
  } else {
    fs.mkdirSync(cg, { recursive: true });
    fs.writeFileSync(path.join(cg, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
    for (const f of fs.readdirSync(V2_SRC)) files.push([f, path.join(V2_SRC, f)]);
  }
  // Every container's files are hard links to one copy per file name: tree creation is 2-3x faster, and each
  // path is still opened, looked up and read on its own (by us and by the floors alike).
  for (const [k, [rel, src]] of files.entries()) { const t = path.join(tpl, String(k)); fs.copyFileSync(src, t); files[k] = [rel, t]; }
  const netTpl = path.join(tpl, 'net-dev');
  fs.writeFileSync(netTpl, NET_DEV);
  for (let i = 0; i < n; i++) {
    const id = idOf(i + 1);
    const pid = 100000 + i;
    for (const [rel, content] of files) {
      const p = mode === 'v1' ? path.join(cg, rel.split('/')[0]!, 'docker', id, rel.split('/')[1]!) : path.join(cg, 'system.slice', `docker-${id}.scope`, rel);
      if (i === 0 || !fs.existsSync(path.dirname(p))) fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.linkSync(content, p);
    }
    const pd = path.join(root, 'proc', String(pid));
    fs.mkdirSync(path.join(pd, 'net'), { recursive: true });
    fs.linkSync(netTpl, path.join(pd, 'net/dev'));
    fs.writeFileSync(path.join(pd, 'cgroup'), mode === 'v1'
      ? controllers.map((c, k) => `${k + 1}:${c}:/docker/${id}`).join('\n') + `\n0::/docker/${id}\n`
      : `0::/system.slice/docker-${id}.scope\n`);
  }
}

function syntheticState(n: number): ContainerSource {
  const containers = new Map<string, ContainerRecord>();
  for (let i = 0; i < n; i++) {
    const id = idOf(i + 1);
    containers.set(id, {
      id, name: `stack_svc.${i}.${id.slice(0, 25)}`, image: 'registry.example/app:1.2.3', imageId: '', command: '', createdAt: 1.7e9, createdIso: '',
      startedAt: 1.7e9 + i, state: 'running', pid: 100000 + i, tty: false, env: [], health: 'none', oomKilled: false, exitCode: 0, restartCount: 0,
      cgroupParent: '', logDriver: 'json-file', autoRemove: false, swarm: {},
      labels: { 'com.docker.swarm.service.name': 'stack_svc', 'com.docker.swarm.service.id': 'x'.repeat(25), 'com.docker.swarm.task.name': `stack_svc.${i}.${id.slice(0, 25)}`, 'com.docker.swarm.task.id': id.slice(0, 25), 'com.docker.swarm.node.id': 'n'.repeat(25), 'com.docker.stack.namespace': 'stack' },
    });
  }
  return { containers };
}

// ---------------------------------------------------------------------------------------------------------
// The C floor
// ---------------------------------------------------------------------------------------------------------
const C_SOURCE = `
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static char buf[65536];
int main(int argc, char **argv) {
  FILE *l = fopen(argv[1], "r"); int reps = atoi(argv[2]);
  size_t cap = 1 << 16, n = 0; char **paths = malloc(cap * sizeof(char *)); char line[4096];
  while (fgets(line, sizeof line, l)) { line[strcspn(line, "\\n")] = 0; if (n == cap) paths = realloc(paths, (cap *= 2) * sizeof(char *)); paths[n++] = strdup(line); }
  long total = 0;
  for (int r = 0; r < reps; r++) {
    struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
    for (size_t i = 0; i < n; i++) { int fd = open(paths[i], O_RDONLY); if (fd < 0) continue; ssize_t k; while ((k = read(fd, buf, sizeof buf)) > 0) total += k; close(fd); }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.3f\\n", (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6);
  }
  fprintf(stderr, "%ld bytes\\n", total);
  return 0;
}
`;

function compileFloor(dir: string): string {
  const src = path.join(dir, 'floor.c');
  const bin = path.join(dir, 'floor');
  fs.writeFileSync(src, C_SOURCE);
  const r = spawnSync('cc', ['-O2', '-o', bin, src], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cc failed: ${r.stderr}`);
  return bin;
}

// ---------------------------------------------------------------------------------------------------------
// Child: one size, one layout
// ---------------------------------------------------------------------------------------------------------
interface ChildResult {
  mode: string; n: number; scrapes: number; filesPerScrape: number; floorFiles: number; bytes: number; series: number;
  p50: number; p99: number; cFloor: number; nodeFloor: number; rss: number; cpuPerScrape: number;
}

async function child(root: string, mode: string, n: number, scrapes: number, floorBin: string): Promise<void> {
  const state = syntheticState(n);
  const collector = createContainerCollector({ state, hostRoot: root });
  // The floor reads every needed file once: the files of the first scrape (which also reads the limits that
  // later scrapes take from the cache). Our steady-state scrapes read fewer files than that.
  const firstFiles: string[] = [];
  const steadyFiles: string[] = [];
  let rec = firstFiles;
  const orig = FileReader.prototype.read;
  FileReader.prototype.read = function (this: FileReader, p: string) { const ok = orig.call(this, p); if (ok) rec.push(p); return ok; };
  collector.collect();
  rec = steadyFiles;
  const sample = collector.collect() as string;
  FileReader.prototype.read = orig;
  const list = path.join(root, 'files.txt');
  fs.writeFileSync(list, firstFiles.join('\n') + '\n');
  // Interleaved, so that the three see the same machine load (the machine is shared and noisy).
  const times: number[] = [];
  const nodeTimes: number[] = [];
  const cTimes: number[] = [];
  let cpuMs = 0;
  // What the agent does at scrape time: stream into a sink that takes each chunk at once (a socket with room).
  const sink = { write(_chunk: Buffer, release: () => void) { release(); } };
  for (let i = 0; i < scrapes; i++) {
    const cpu0 = process.cpuUsage();
    const t = process.hrtime.bigint();
    await collector.stream(sink);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
    const cpu = process.cpuUsage(cpu0);
    cpuMs += (cpu.user + cpu.system) / 1000;
    const t2 = process.hrtime.bigint();
    for (const f of firstFiles) fs.readFileSync(f);
    nodeTimes.push(Number(process.hrtime.bigint() - t2) / 1e6);
    const c = spawnSync(floorBin, [list, '1'], { encoding: 'utf8' });
    cTimes.push(Number(c.stdout.trim()));
  }
  const rss = process.memoryUsage().rss;
  times.sort((a, b) => a - b);
  nodeTimes.sort((a, b) => a - b);
  cTimes.sort((a, b) => a - b);
  const res: ChildResult = {
    mode, n, scrapes, filesPerScrape: steadyFiles.length, floorFiles: firstFiles.length, bytes: sample.length, series: sample.split('\n').filter((l) => l && !l.startsWith('#')).length,
    p50: pct(times, 50), p99: pct(times, 99), cFloor: pct(cTimes, 50), nodeFloor: pct(nodeTimes, 50), rss, cpuPerScrape: cpuMs / scrapes,
  };
  process.stdout.write(JSON.stringify(res) + '\n');
}

async function synthetic(): Promise<void> {
  const sizes = (arg('sizes') ?? '100,1000,10000').split(',').map(Number);
  const modes = (arg('layouts') ?? 'v1,v2').split(',');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swbench-'));
  const floorBin = compileFloor(tmp);
  console.log(`exporter bench: synthetic cgroup trees in ${tmp}; node ${process.version}; ${os.cpus().length} CPUs; kernel ${os.release()}`);
  console.log(`| layout | containers | files read by a scrape / by the floor | series | scrape p50 ms | p99 ms | C floor ms | readFileSync ms | p50 / C floor | p50 / readFileSync | CPU ms/scrape | RSS MiB (bench child) | peak RSS MiB, collector only, streamed, as shipped (${SHIPPED_FLAGS.join(' ')}) |`);
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  try {
    for (const mode of modes) {
      for (const n of sizes) {
        const root = path.join(tmp, `${mode}-${n}`);
        const t0 = Date.now();
        generate(root, mode as 'v1' | 'v2', n);
        const genMs = Date.now() - t0;
        const scrapes = Number(arg('scrapes') ?? (n >= 10000 ? 10 : n >= 1000 ? 20 : 50));
        const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', root, mode, String(n), String(scrapes), floorBin], { encoding: 'utf8', maxBuffer: 1 << 24 });
        if (r.status !== 0) { console.error(r.stderr); throw new Error(`child for ${mode}/${n} failed`); }
        const x = JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
        const rr = spawnSync(process.execPath, [...SHIPPED_FLAGS, fileURLToPath(import.meta.url), '--child-rss', root, String(n), String(Math.min(scrapes, 10))], { encoding: 'utf8' });
        const peak = rr.status === 0 ? mib((JSON.parse(rr.stdout.trim().split('\n').pop()!) as { hwm: number }).hwm) : 'n/a';
        console.log(`| ${mode} | ${n} | ${x.filesPerScrape} / ${x.floorFiles} | ${x.series} | ${ms(x.p50)} | ${ms(x.p99)} | ${ms(x.cFloor)} | ${ms(x.nodeFloor)} | ${(x.p50 / x.cFloor).toFixed(2)} | ${(x.p50 / x.nodeFloor).toFixed(2)} | ${ms(x.cpuPerScrape)} | ${mib(x.rss)} | ${peak} |`);
        if (process.env.BENCH_VERBOSE) console.error(`  (tree generated in ${genMs} ms, ${x.bytes} bytes of exposition)`);
        if (args.includes('--keep')) console.error(`  tree kept: ${root} (node dist/bench/exporter-bench.js --child-rss ${root} ${n} 10)`);
        else fs.rmSync(root, { recursive: true, force: true });
      }
    }
  } finally {
    if (!args.includes('--keep')) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Real containers (private engine), optionally with Netdata side by side
// ---------------------------------------------------------------------------------------------------------
function procCpuMs(pid: number): number {
  // utime + stime of the process and its reaped children, in clock ticks (100/s).
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14])) * 10;
}

function treeCpuMs(pid: number): number {
  let total = 0;
  const kids = new Map<number, number[]>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = fs.readFileSync(`/proc/${d}/stat`, 'latin1');
      const ppid = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid)!.push(Number(d));
    } catch { /* gone */ }
  }
  const walk = (p: number): void => { try { total += procCpuMs(p); } catch { /* gone */ } for (const k of kids.get(p) ?? []) walk(k); };
  walk(pid);
  return total;
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'latin1'));
  return m ? Number(m[1]) * 1024 : 0;
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => { let b = ''; res.setEncoding('utf8'); res.on('data', (c) => (b += c)); res.on('end', () => resolve(b)); }).on('error', reject);
  });
}

/**
 * The agent as users run it: `swarmwatch exporter` in its own process with the shipped node flags, against the bench
 * engine; 5 s to start and list containers, then `scrapes` scrapes of /metrics over HTTP. CPU = utime+stime delta.
 */
async function agentAsShipped(dockerHost: string, scrapes: number): Promise<{ scrapes: number; series: number; cpuPerScrape: number; idle: number; rss: number; hwm: number }> {
  const cli = path.resolve(here, '../cli/main.js');
  const port = 19600 + Math.floor(Math.random() * 300);
  const child = spawn(process.execPath, [...SHIPPED_FLAGS, cli, 'exporter', `--http.listen=127.0.0.1:${port}`, '--log.level=warn'], { env: { ...process.env, DOCKER_HOST: dockerHost }, stdio: 'ignore' });
  const status = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${child.pid}/status`, 'latin1'))![1]) * 1024;
  try {
    await new Promise((r) => setTimeout(r, 5000));
    const idle = status('VmRSS');
    const c0 = procCpuMs(child.pid!);
    let series = 0;
    for (let i = 0; i < scrapes; i++) series = (await get(`http://127.0.0.1:${port}/metrics`)).split('\n').filter((l) => l.startsWith('container_')).length;
    const cpuPerScrape = (procCpuMs(child.pid!) - c0) / scrapes;
    return { scrapes, series, cpuPerScrape, idle, rss: status('VmRSS'), hwm: status('VmHWM') };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

async function real(count: number, withNetdata: boolean): Promise<void> {
  const bed = await import('../test/bed/index.js');
  const { DockerAccess } = await import('../core/docker/access.js');
  const { SwarmState } = await import('../core/state/model.js');
  const { createLogger } = await import('../core/log.js');
  const engine = await bed.startEngine({ name: 'bench' });
  let netdata: ReturnType<typeof spawn> | undefined;
  const ndDir = fs.mkdtempSync(path.join(os.tmpdir(), 'swbench-nd-'));
  try {
    const image = await bed.ensureBusyboxImage(engine);
    console.log(`starting ${count} busybox containers on a private engine…`);
    for (let i = 0; i < count; i += 20) {
      await Promise.all(Array.from({ length: Math.min(20, count - i) }, (_, k) => engine.docker(['run', '-d', '--name', `b${i + k}`, image, 'sleep', '3600'])));
    }
    const log = createLogger('bench');
    const state = new SwarmState(new DockerAccess({ host: engine.dockerHost, timeoutMs: 10_000, clusterTimeoutMs: 3000 }), log, { reconcileIntervalMs: 60_000, clusterRefreshMs: 600_000, watchTasks: false });
    await state.start();
    const collector = createContainerCollector({ state, hostRoot: '/' });
    const first = collector.collect() as string;
    const series = first.split('\n').filter((l) => l && !l.startsWith('#')).length;
    if (arg('save-scrape')) fs.writeFileSync(arg('save-scrape')!, first);
    const scrapes = Number(arg('scrapes') ?? 50);
    const cpu0 = process.cpuUsage();
    const times: number[] = [];
    for (let i = 0; i < scrapes; i++) {
      const t = process.hrtime.bigint();
      collector.collect();
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    const cpu = process.cpuUsage(cpu0);
    times.sort((a, b) => a - b);
    const ours = { cpuPerScrape: (cpu.user + cpu.system) / 1000 / scrapes, p50: pct(times, 50), p99: pct(times, 99), rss: process.memoryUsage().rss, series };
    console.log(`swarmwatch container collector, ${count} real containers (cgroup ${collector.layout()?.mode}): ${series} series, ` +
      `CPU ${ms(ours.cpuPerScrape)} ms/scrape, latency p50 ${ms(ours.p50)} ms p99 ${ms(ours.p99)} ms, RSS of the bench process ${mib(ours.rss)} MiB (includes the state model and the docker client)`);
    collector.stop();
    state.stop();
    const agent = await agentAsShipped(engine.dockerHost, Number(arg('agent-scrapes') ?? 20));
    console.log(`swarmwatch exporter as shipped (node ${SHIPPED_FLAGS.join(' ')}, its own process, ${agent.scrapes} scrapes over HTTP): ${agent.series} series, ` +
      `CPU ${ms(agent.cpuPerScrape)} ms/scrape, RSS idle ${mib(agent.idle)} MiB, after ${mib(agent.rss)} MiB, peak (VmHWM) ${mib(agent.hwm)} MiB`);

    if (withNetdata) {
      const bin = ['/usr/sbin/netdata', '/usr/bin/netdata'].find((p) => fs.existsSync(p));
      if (!bin) throw new Error('netdata is not installed: apt-get install -y netdata');
      const port = 19999 + 1000 + Math.floor(Math.random() * 1000);
      for (const d of ['cache', 'lib', 'log']) fs.mkdirSync(path.join(ndDir, d), { recursive: true });
      // test-bed.md: VIRTUALIZATION=none, 127.0.0.1 only, no cloud/registry/telemetry, never via the init script.
      fs.writeFileSync(path.join(ndDir, 'netdata.conf'), [
        '[global]', `  run as user = root`, `  cache directory = ${ndDir}/cache`, `  lib directory = ${ndDir}/lib`, `  log directory = ${ndDir}/log`,
        '[web]', `  bind to = 127.0.0.1:${port}`, '  allow connections from = localhost 127.0.0.1',
        '[registry]', '  enabled = no', '[cloud]', '  enabled = no', '[ml]', '  enabled = no',
        '[plugins]', '  apps = no', '  go.d = no', '  python.d = no', '  charts.d = no', '  ebpf = no', '  perf = no', '  slabinfo = no', '  statsd = no', '  timex = no', '  idlejitter = no', '  tc = no', '  diskspace = no', '  proc = no', '  cgroups = yes', '',
      ].join('\n'));
      fs.writeFileSync(path.join(ndDir, 'cloud.conf'), '[global]\n  enabled = no\n');
      // DOCKER_HOST: Netdata's cgroup-name.sh asks the engine for container names; point it at the private engine only.
      const env = { ...process.env, VIRTUALIZATION: 'none', DISABLE_TELEMETRY: '1', NETDATA_DISABLE_CLOUD: '1', DOCKER_HOST: engine.dockerHost };
      netdata = spawn(bin, ['-D', '-c', path.join(ndDir, 'netdata.conf')], { env, stdio: ['ignore', 'ignore', fs.openSync(path.join(ndDir, 'stderr.log'), 'w')] });
      const url = `http://127.0.0.1:${port}/api/v1/allmetrics?format=prometheus&source=as-collected`;
      let text = '';
      let discovered = 0;
      const deadline = Date.now() + 120_000;
      // Netdata discovers cgroups on its own schedule; wait until it reports all our containers.
      for (;;) {
        try {
          text = await get(url);
          discovered = new Set([...text.matchAll(/chart="cgroup_([^."]+)\./g)].map((m) => m[1])).size;
          if (discovered >= count) break;
        } catch { /* not up yet */ }
        if (Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 2000));
      }
      const ndSeries = text.split('\n').filter((l) => l && !l.startsWith('#')).length;
      const ndScrapes = Number(arg('netdata-scrapes') ?? 20);
      const intervalMs = Number(arg('netdata-interval') ?? 3000);
      const cpuA = treeCpuMs(netdata.pid!);
      const tA = Date.now();
      for (let i = 0; i < ndScrapes; i++) { await get(url); await new Promise((r) => setTimeout(r, intervalMs)); }
      const cpuB = treeCpuMs(netdata.pid!);
      const wall = (Date.now() - tA) / 1000;
      const ndRss = rssOf(netdata.pid!);
      // Netdata collects every second whether scraped or not: its cost per second of wall time matters too.
      const idleA = treeCpuMs(netdata.pid!);
      await new Promise((r) => setTimeout(r, 20_000));
      const idlePerS = (treeCpuMs(netdata.pid!) - idleA) / 20;
      console.log(`netdata discovered ${discovered} container cgroups; CPU without scrapes: ${ms(idlePerS)} ms per second of wall time`);
      console.log(`netdata ${spawnSync(bin, ['-v'], { encoding: 'utf8' }).stdout.trim()} (cgroups plugin only, update every 1 s), ${count} real containers: ${ndSeries} series, ` +
        `CPU ${ms((cpuB - cpuA) / ndScrapes)} ms/scrape (process tree CPU over ${wall.toFixed(0)} s / ${ndScrapes} scrapes; ${((cpuB - cpuA) / 10 / wall).toFixed(2)}% of a core), RSS ${mib(ndRss)} MiB`);
      const ndCpu = (cpuB - cpuA) / ndScrapes;
      console.log(`| tool | containers | series | CPU ms/scrape | RSS MiB |\n|---|---|---|---|---|\n| swarmwatch collector in this process | ${count} | ${series} | ${ms(ours.cpuPerScrape)} | ${mib(ours.rss)} (whole bench process) |\n` +
        `| swarmwatch exporter as shipped | ${count} | ${agent.series} | ${ms(agent.cpuPerScrape)} | ${mib(agent.hwm)} peak, ${mib(agent.rss)} after |\n| netdata | ${count} | ${ndSeries} | ${ms(ndCpu)} (whole process tree, collection every 1 s included) | ${mib(ndRss)} |`);
      console.log(`exporter as shipped / netdata: CPU per scrape ${(agent.cpuPerScrape / ndCpu).toFixed(2)}x, peak RSS ${(agent.hwm / ndRss).toFixed(2)}x`);
    }
  } finally {
    if (netdata?.pid) { try { process.kill(netdata.pid, 'SIGTERM'); } catch { /* gone */ } await new Promise((r) => setTimeout(r, 1500)); try { process.kill(netdata.pid, 'SIGKILL'); } catch { /* gone */ } }
    await engine.stop({ graceful: false });
    fs.rmSync(ndDir, { recursive: true, force: true });
  }
}

/**
 * Peak RSS of a process that does only what the exporter does at scrape time: read, parse and stream the
 * families to a sink (the HTTP response in the agent), with no floor measurements around it.
 */
async function childRss(root: string, n: number, scrapes: number): Promise<void> {
  const collector = createContainerCollector({ state: syntheticState(n), hostRoot: root });
  let bytes = 0;
  // A sink that takes each chunk at once, as a socket with room does; the agent's sink is core/http/server.ts.
  const sink = { write(chunk: Buffer, release: () => void) { bytes += chunk.length; release(); } };
  for (let i = 0; i < scrapes; i++) await collector.stream(sink);
  const status = fs.readFileSync('/proc/self/status', 'latin1');
  const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024;
  const base = Number(args[4] ?? 0);
  process.stdout.write(JSON.stringify({ hwm, bytes: bytes / scrapes, base }) + '\n');
}

if (args[0] === '--child') {
  await child(args[1]!, args[2]!, Number(args[3]), Number(args[4]), args[5]!);
} else if (args[0] === '--child-rss') {
  await childRss(args[1]!, Number(args[2]), Number(args[3]));
} else if (arg('netdata') !== undefined || args.includes('--netdata')) {
  await real(Number(arg('netdata') ?? 200) || 200, true);
} else if (arg('real') !== undefined || args.includes('--real')) {
  await real(Number(arg('real') ?? 100) || 100, false);
} else {
  await synthetic();
}
