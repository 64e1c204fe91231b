// What announcing each write costs the sender: CursorStore commits of 3 containers' cursors, alone and each
// preceded by its announcement (the journal record a start reads to warn of lines that may arrive twice after a
// kill -9; docs/log-shipper.md, "Announced"). Prints µs per write for both.
// Usage: npm run build && node bench/scripts/announce-cost.mjs [writes, default 20000]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CursorStore } from '../../dist/log-shipper/cursor-store.js';

const writes = Number(process.argv[2] ?? 20_000);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-announce-'));
const store = new CursorStore(dir);
store.load();
const stateAt = (i) => new Map(Array.from({ length: 3 }, (_, c) => [`c${c}`.padEnd(64, 'a'), { cursor: { time: { sec: 1_700_000_000 + i, nsec: i }, count: 1 }, name: `web.${c}` }]));
for (const announce of [false, true]) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < writes; i++) {
    const prepared = store.prepare(stateAt(i + (announce ? writes : 0)));
    if (announce) prepared.announce(100);
    prepared.commit();
  }
  const us = Number(process.hrtime.bigint() - t0) / 1000 / writes;
  console.log(`${announce ? 'announce + commit' : 'commit alone'}: ${us.toFixed(2)} µs per write (3 containers, ${writes} writes)`);
}
await store.idle();
store.close();
fs.rmSync(dir, { recursive: true, force: true });
