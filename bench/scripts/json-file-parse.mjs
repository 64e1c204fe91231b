// Parse time per line of JsonFileSource (read-mode file's reader), for builds side by side:
//   node bench/scripts/json-file-parse.mjs <dir for the test files> <checkout A> [checkout B …]
// Each checkout must be built (dist/). Three logs of 1,000,000 entries in the engine's json-file format, entries
// 1 ms apart: plain text, text with two escaped quotes, a structured (JSON) log line full of escaped quotes. Every
// line goes through the raw sink (as the shipper's fast path) or the decoded one; best of 5 reads of each file.
import fs from 'node:fs';
import path from 'node:path';

const [dir, ...roots] = process.argv.slice(2);
if (!dir || roots.length === 0) {
  console.error('usage: node bench/scripts/json-file-parse.mjs <dir> <checkout> [checkout …]');
  process.exit(2);
}
const kinds = {
  plain: (i) => `2026-11-24 INFO request ${i} handled in 12ms path=/api/v1/items user=bob`,
  quoted: (i) => `2026-11-24 INFO request ${i} handled in 12ms path=/api/v1/items user="bob"`,
  structured: (i) => JSON.stringify({ level: 'info', time: '2026-11-24T04:28:00Z', msg: 'request handled', id: i, path: '/api/v1/items', user: 'bob', ms: 12 }),
};
fs.mkdirSync(dir, { recursive: true });
for (const [kind, text] of Object.entries(kinds)) {
  const file = path.join(dir, `${kind}-json.log`);
  if (fs.existsSync(file)) continue;
  const fd = fs.openSync(file, 'w');
  let lines = [];
  for (let i = 0; i < 1_000_000; i++) {
    lines.push(JSON.stringify({ log: `${text(i)}\n`, stream: 'stdout', time: new Date(Date.UTC(2026, 0, 1) + i).toISOString().replace('Z', '123456Z') }) + '\n');
    if (lines.length === 10_000) { fs.writeSync(fd, lines.join('')); lines = []; }
  }
  fs.closeSync(fd);
}
const results = {};
for (const root of roots) {
  const { JsonFileSource } = await import(path.resolve(root, 'dist/log-shipper/json-file-source.js'));
  for (const kind of Object.keys(kinds)) {
    let best = Infinity;
    for (let r = 0; r < 5; r++) {
      const src = new JsonFileSource(path.join(dir, `${kind}-json.log`), undefined);
      src.open();
      let n = 0;
      const t = process.hrtime.bigint();
      while (src.readMore(() => n++, undefined, () => n++));
      best = Math.min(best, Number(process.hrtime.bigint() - t) / n);
      src.close();
    }
    (results[kind] ??= []).push(best);
  }
}
console.log(`| log | ${roots.join(' | ')} | ratio to the first |`);
console.log(`| --- |${roots.map(() => ' ---: |').join('')} ---: |`);
for (const [kind, ns] of Object.entries(results)) console.log(`| ${kind} | ${ns.map((x) => `${x.toFixed(1)} ns`).join(' | ')} | ${ns.slice(1).map((x) => (x / ns[0]).toFixed(2)).join(' · ') || '–'} |`);
