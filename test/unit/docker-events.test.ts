/**
 * EventFollower against the events stream of a real engine during a burst of 50 `docker run --rm`, recorded by
 * scripts/record-container-fixtures.mjs (test/fixtures/api/events-burst-out-of-order.jsonl): the engine stamps an
 * event before it takes the lock that publishes it, so a start and a destroy in it arrive older than an event
 * before them. Served over a unix socket through the real DockerAccess, with the engine's replay rule (`since`
 * inclusive) on a reconnect.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { DockerAccess } from '../../core/docker/access.js';
import { EventFollower } from '../../core/docker/events.js';
import type { RawEvent } from '../../core/docker/types.js';
import { createLogger } from '../../core/log.js';
import { until } from '../support/until.js';

const LINES = fs.readFileSync(new URL('../fixtures/api/events-burst-out-of-order.jsonl', import.meta.url), 'utf8').trim().split('\n');
const timeOf = (line: string) => BigInt(/"timeNano":(\d+)/.exec(line)![1]!);
const keyOf = (ev: RawEvent) => `${ev.timeNano} ${ev.Action} ${ev.Actor.ID}`;

const cleanups: (() => unknown)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0)) await c(); });

/** An endpoint serving the recorded stream: the first request ends after `cutAt` lines; later ones replay from `since`. */
async function recordedEngine(cutAt = LINES.length): Promise<{ docker: DockerAccess; sinces: (string | undefined)[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-events-'));
  const socketPath = path.join(dir, 'engine.sock');
  const sinces: (string | undefined)[] = [];
  const server = http.createServer((req, res) => {
    const since = new URL(req.url ?? '/', 'http://x').searchParams.get('since') ?? undefined;
    sinces.push(since);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    // The first request: the recorded stream as it came (its events are older than this run's clock).
    if (sinces.length === 1) {
      res.write(LINES.slice(0, cutAt).map((l) => l + '\n').join(''));
      if (cutAt < LINES.length) res.end();
      return;
    }
    const [s, ns = '0'] = (since ?? '0').split('.');
    const from = BigInt(s!) * 1_000_000_000n + BigInt(ns.padEnd(9, '0'));
    // The engine replays what it keeps from `since` on (inclusive), then follows: here everything recorded.
    res.write(LINES.filter((l) => timeOf(l) >= from).map((l) => l + '\n').join(''));
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { docker: new DockerAccess({ host: `unix://${socketPath}`, timeoutMs: 2000, clusterTimeoutMs: 2000 }), sinces };
}

function follow(docker: DockerAccess): RawEvent[] {
  const got: RawEvent[] = [];
  const follower = new EventFollower(docker, { onEvent: (ev) => got.push(ev), onConnection: () => undefined }, createLogger('test'), 50);
  follower.start();
  cleanups.unshift(() => follower.stop());
  return got;
}

it('delivers every event of a burst, also those the engine sends older than one before them', async () => {
  const late = LINES.filter((l, i) => LINES.slice(0, i).some((p) => timeOf(p) > timeOf(l))).map((l) => (JSON.parse(l) as RawEvent).Action);
  expect(late).toEqual(expect.arrayContaining(['start', 'destroy']));
  const { docker } = await recordedEngine();
  const got = follow(docker);
  await until('every recorded event', () => got.length >= LINES.length, 3000, 10);
  expect(got.map(keyOf)).toEqual(LINES.map((l) => keyOf(JSON.parse(l) as RawEvent)));
});

it('after a dropped stream, replays from before the newest event seen: nothing missed, nothing twice', async () => {
  // Cut right before a late event: it was published after the newest one seen so far.
  const lateIndex = LINES.findIndex((l, i) => i > 0 && LINES.slice(0, i).some((p) => timeOf(p) > timeOf(l)));
  const { docker, sinces } = await recordedEngine(lateIndex);
  const got = follow(docker);
  await until('the replay', () => got.length >= LINES.length && sinces.length >= 2, 5000, 10);
  await new Promise((r) => setTimeout(r, 100));
  expect(sinces[1]).toBeDefined();
  const keys = got.map(keyOf);
  expect(new Set(keys).size).toBe(keys.length);
  expect(keys.sort()).toEqual(LINES.map((l) => keyOf(JSON.parse(l) as RawEvent)).sort());
});

it('asks its first request from shortly before it started: a busy engine that subscribes it late loses nothing meanwhile', async () => {
  const { docker, sinces } = await recordedEngine();
  const startedAt = Date.now() / 1000;
  follow(docker);
  await until('the first request', () => sinces.length >= 1, 3000, 10);
  // Before this, no \`since\`: the engine streamed from whenever it got round to subscribing the request.
  expect(sinces[0]).toBeDefined();
  expect(Number(sinces[0])).toBeGreaterThan(startedAt - 2.5);
  expect(Number(sinces[0])).toBeLessThanOrEqual(startedAt - 1.5);
});
