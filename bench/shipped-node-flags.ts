import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The V8 flags the agent ships with, read from scripts/start.sh (the Dockerfile's entrypoint must match it:
 * test/unit/deploy-config.test.ts), so every benchmark measures what users run.
 * SWARMWATCH_BENCH_NODE_FLAGS overrides them (e.g. "" for Node's defaults).
 */
export function shippedNodeFlags(): string[] {
  if (process.env.SWARMWATCH_BENCH_NODE_FLAGS !== undefined) return process.env.SWARMWATCH_BENCH_NODE_FLAGS.split(/\s+/).filter(Boolean);
  const m = /exec node (.*?) dist\/cli\/main\.js/.exec(fs.readFileSync(path.join(ROOT, 'scripts/start.sh'), 'utf8'));
  return m ? m[1]!.split(/\s+/).filter(Boolean) : [];
}
