// Peak RSS and CPU per scrape of the real `swarmwatch exporter` process at N real containers (default 200).
// Usage: npm run build && node bench/scripts/agent-rss.mjs 200
//   FLAGS="--a --b;--c"  node flag sets to compare, separated by ';' (default: the shipped set, scripts/start.sh)
//   REPEAT=3             runs per flag set, interleaved so that every set sees the same machine load
//   SCRAPES=20           scrapes per run (CPU = utime+stime delta / scrapes; RSS/HWM from /proc/<pid>/status)
import { startEngine, ensureBusyboxImage } from '../../dist/test/bed/index.js';
import { shippedNodeFlags } from '../../dist/bench/shipped-node-flags.js';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const SHIPPED = shippedNodeFlags().join(' ');
const n = Number(process.argv[2] ?? 200);
const flagSets = (process.env.FLAGS ?? SHIPPED).split(';').map((s) => s.trim());
const repeat = Number(process.env.REPEAT ?? 1);
const scrapes = Number(process.env.SCRAPES ?? 20);
const cpuMs = (pid) => { const s = readFileSync(`/proc/${pid}/stat`, 'latin1'); const r = s.slice(s.lastIndexOf(')') + 2).split(' '); return (Number(r[11]) + Number(r[12])) * 10; };
const kib = (st, key) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(st)[1]) / 1024;

async function run(flags) {
  const child = spawn(process.execPath, [...flags.split(' ').filter(Boolean), CLI, 'exporter', '--http.listen=127.0.0.1:19601'], { env: { ...process.env, DOCKER_HOST: e.dockerHost }, stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 5000));
    const idle = kib(readFileSync(`/proc/${child.pid}/status`, 'latin1'), 'VmRSS');
    const c0 = cpuMs(child.pid);
    let series = 0;
    for (let i = 0; i < scrapes; i++) { const txt = await (await fetch('http://127.0.0.1:19601/metrics')).text(); series = txt.split('\n').filter((l) => l.startsWith('container_')).length; }
    const c1 = cpuMs(child.pid);
    const st = readFileSync(`/proc/${child.pid}/status`, 'latin1');
    return { flags, n, series, cpuMsPerScrape: (c1 - c0) / scrapes, idle: +idle.toFixed(1), rss: +kib(st, 'VmRSS').toFixed(1), hwm: +kib(st, 'VmHWM').toFixed(1) };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

const e = await startEngine({ name: 'rss' });
try {
  const img = await ensureBusyboxImage(e);
  for (let i = 0; i < n; i += 20) await Promise.all(Array.from({ length: Math.min(20, n - i) }, (_, k) => e.docker(['run', '-d', '--name', `c${i + k}`, img, 'sleep', '3600'])));
  for (let k = 0; k < repeat; k++) for (const flags of flagSets) console.log(JSON.stringify(await run(flags)));
} finally { await e.stop({ graceful: false }); }
