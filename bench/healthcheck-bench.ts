/**
 * npm run bench:healthcheck — what the image's HEALTHCHECK probe costs: the command deploy/Dockerfile ships, side by
 * side in the same run with the probe it replaced (fetch), against a real HTTP server answering /-/healthy.
 *
 * A probe is a whole `node` process every 30 s in every swarmwatch container (three per manager node), and Swarm
 * replaces a task whose probes exceed the timeout three times in a row: its CPU seconds, peak RSS and wall time
 * when a node's containers are probed at the same moment are what decide whether a loaded node keeps its agents.
 *
 *   npm run bench:healthcheck
 *   SWARMWATCH_BENCH_PROBES=20 SWARMWATCH_BENCH_CONCURRENT=11 npm run bench:healthcheck
 *
 * Figures per probe come from GNU time (`/usr/bin/time`, Debian package `time`): user + system CPU seconds of the
 * probe process and its maximum resident set size.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const GNU_TIME = '/usr/bin/time';

/** The probe before this bench existed (deploy/Dockerfile until 2026-11-24). */
const FETCH_PROBE = ['node', '-e', "const p=(process.env.SWARMWATCH_HTTP_LISTEN||'9338').split(':').pop();fetch('http://127.0.0.1:'+p+'/-/healthy').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"];

/** The HEALTHCHECK CMD of deploy/Dockerfile (exec form), so the bench measures what ships. */
function shippedProbe(): string[] {
  const text = fs.readFileSync(path.join(ROOT, 'deploy', 'Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ');
  const m = /^HEALTHCHECK\b.*?\bCMD\s+(\[.*\])\s*$/m.exec(text);
  if (!m) throw new Error('deploy/Dockerfile has no exec-form HEALTHCHECK CMD [...]; the bench reads the probe from there');
  return JSON.parse(m[1]!) as string[];
}

interface ProbeRun { ok: boolean; wallS: number; cpuS: number; maxRssMiB: number }

function runProbe(cmd: string[], port: number): Promise<ProbeRun> {
  const out = path.join(os.tmpdir(), `sw-probe-${process.pid}-${Math.random().toString(36).slice(2)}.time`);
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(GNU_TIME, ['-o', out, '-f', '%U %S %M', ...cmd], {
      stdio: 'ignore', env: { ...process.env, SWARMWATCH_HTTP_LISTEN: `127.0.0.1:${port}` },
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const wallS = (performance.now() - t0) / 1000;
      let figures: number[];
      try {
        figures = fs.readFileSync(out, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
      } catch (err) {
        reject(new Error(`${GNU_TIME} left no figures for \`${cmd.join(' ')}\` (exit ${code}): ${(err as Error).message}`));
        return;
      } finally {
        fs.rmSync(out, { force: true });
      }
      const [user, sys, rssKb] = figures;
      resolve({ ok: code === 0, wallS, cpuS: user! + sys!, maxRssMiB: rssKb! / 1024 });
    });
  });
}

interface Figures { failed: number; cpuS: number; rssMiB: number; wallS: number; burstWallS: number; burstCpuS: number; burstFailed: number }

async function measure(cmd: string[], port: number, probes: number, concurrent: number): Promise<Figures> {
  const one: ProbeRun[] = [];
  for (let i = 0; i < probes; i++) one.push(await runProbe(cmd, port));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const t0 = performance.now();
  const burst = await Promise.all(Array.from({ length: concurrent }, () => runProbe(cmd, port)));
  return {
    failed: one.filter((r) => !r.ok).length,
    cpuS: median(one.map((r) => r.cpuS)),
    rssMiB: median(one.map((r) => r.maxRssMiB)),
    wallS: median(one.map((r) => r.wallS)),
    burstWallS: (performance.now() - t0) / 1000,
    burstCpuS: burst.reduce((a, r) => a + r.cpuS, 0),
    burstFailed: burst.filter((r) => !r.ok).length,
  };
}

async function main(): Promise<void> {
  if (!fs.existsSync(GNU_TIME)) throw new Error(`${GNU_TIME} is missing; apt-get install -y time`);
  const probes = Number(process.env.SWARMWATCH_BENCH_PROBES ?? 10);
  const concurrent = Number(process.env.SWARMWATCH_BENCH_CONCURRENT ?? 11);
  const server = createServer((req, res) => { res.statusCode = req.url === '/-/healthy' ? 200 : 404; res.end('OK\n'); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  try {
    const shipped = shippedProbe();
    console.log(`healthcheck probe, ${probes} one at a time (medians) and ${concurrent} at once (a 4-node test swarm's containers probed together); ${os.cpus().length} CPUs, node ${process.version}`);
    // Alternated rounds: the machine's load drifts, both variants see the same drift.
    const rows: [string, Figures][] = [];
    for (const round of [1, 2]) {
      rows.push([`fetch (before), round ${round}`, await measure(FETCH_PROBE, port, probes, concurrent)]);
      rows.push([`shipped (node:http), round ${round}`, await measure(shipped, port, probes, concurrent)]);
    }
    console.log('| probe | CPU s per probe | peak RSS MiB | wall s | failed | wall s, all at once | CPU s, all at once | failed at once |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const [name, f] of rows) {
      console.log(`| ${name} | ${f.cpuS.toFixed(3)} | ${f.rssMiB.toFixed(1)} | ${f.wallS.toFixed(3)} | ${f.failed} | ${f.burstWallS.toFixed(2)} | ${f.burstCpuS.toFixed(2)} | ${f.burstFailed} |`);
    }
    const avg = (pick: (f: Figures) => number, prefix: string) => {
      const xs = rows.filter(([n]) => n.startsWith(prefix)).map(([, f]) => pick(f));
      return xs.reduce((a, b) => a + b, 0) / xs.length;
    };
    const ratio = (pick: (f: Figures) => number) => (avg(pick, 'fetch') / avg(pick, 'shipped')).toFixed(2);
    console.log(`fetch ÷ shipped: CPU per probe ${ratio((f) => f.cpuS)}×, peak RSS ${ratio((f) => f.rssMiB)}×, wall all at once ${ratio((f) => f.burstWallS)}×`);
  } finally {
    server.close();
  }
}

main().catch((err: unknown) => {
  console.error((err as Error).message);
  process.exit(1);
});
