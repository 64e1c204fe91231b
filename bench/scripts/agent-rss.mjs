// Peak RSS and CPU per scrape of the real `swarmwatch exporter` process at N real containers (default 200).
// Usage: npm run build && FLAGS="--max-semi-space-size=1 --expose-gc" node bench/scripts/agent-rss.mjs 200
import { startEngine, ensureBusyboxImage } from '../../dist/test/bed/index.js';
import { fileURLToPath } from 'node:url';
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
const n = Number(process.argv[2] ?? 200);
const e = await startEngine({ name: 'rss' });
try {
  const img = await ensureBusyboxImage(e);
  for (let i = 0; i < n; i += 20) await Promise.all(Array.from({ length: Math.min(20, n - i) }, (_, k) => e.docker(['run', '-d', '--name', `c${i + k}`, img, 'sleep', '3600'])));
  const child = spawn(process.execPath, [...(process.env.FLAGS ?? '--max-semi-space-size=1').split(' '), CLI, 'exporter', '--http.listen=127.0.0.1:19601'], { env: { ...process.env, DOCKER_HOST: e.dockerHost }, stdio: 'ignore' });
  await new Promise(r => setTimeout(r, 5000));
  const cpu0 = readFileSync(`/proc/${child.pid}/stat`, 'latin1');
  const t = (s) => { const r = s.slice(s.lastIndexOf(')') + 2).split(' '); return (Number(r[11]) + Number(r[12])) * 10; };
  const c0 = t(cpu0); let series = 0;
  for (let i = 0; i < 20; i++) { const txt = await (await fetch('http://127.0.0.1:19601/metrics')).text(); series = txt.split('\n').filter(l => l.startsWith('container_')).length; }
  const c1 = t(readFileSync(`/proc/${child.pid}/stat`, 'latin1'));
  const st = readFileSync(`/proc/${child.pid}/status`, 'latin1');
  const last = await (await fetch('http://127.0.0.1:19601/metrics')).text();
  console.log(last.split('\n').filter(l => /^(nodejs_heap_size|nodejs_external|process_resident|nodejs_heap_space_size_used_bytes)/.test(l)).join('\n'));
  console.log(JSON.stringify({ n, series, cpuMsPerScrape: (c1 - c0) / 20, rss: /VmRSS:\s+(\d+)/.exec(st)[1] / 1024, hwm: /VmHWM:\s+(\d+)/.exec(st)[1] / 1024 }));
  child.kill('SIGTERM');
} finally { await e.stop({ graceful: false }); }
