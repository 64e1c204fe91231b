/**
 * The state model's per-event inspect under a burst of container starts: an event that arrives while an inspect
 * of the same container is in flight must be answered by a fresh inspect, and an inspect that fails (the engine
 * holds inspects past the timeout while it starts 50 containers) must be retried. Either gap left a container
 * stale or missing from the model until the next reconciliation, and read-mode file then shipped none of its
 * lines for up to 15 s (the 50-container shortfall in bench:shipper).
 *
 * The model talks to the engine through the real DockerAccess, over a unix socket, to an HTTP server that answers
 * each inspect with a recorded engine answer (test/fixtures/api/container-inspect-*.json, recorded by
 * scripts/record-container-fixtures.mjs, as is the die event of container-events-exit3.json; version.json and info-worker.json from private engines) when the test says so: the order of answers is what the engine decides
 * under load and what these tests fix.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { DockerAccess } from '../../core/docker/access.js';
import type { RawEvent } from '../../core/docker/types.js';
import { createLogger } from '../../core/log.js';
import { SwarmState } from '../../core/state/model.js';
import { until } from '../support/until.js';

const fixture = (name: string): { Id: string } & Record<string, unknown> =>
  JSON.parse(fs.readFileSync(new URL(`../fixtures/api/${name}`, import.meta.url), 'utf8')) as { Id: string };
const CREATED = fixture('container-inspect-created.json');
const EXITED = fixture('container-inspect-exited.json');
const ID = CREATED.Id;

/** An engine endpoint whose inspect answers are held until the test releases them, in call order. */
interface HeldEngine { docker: DockerAccess; held: { path: string; answer(body: unknown): void }[]; close(): Promise<void> }

async function heldEngine(timeoutMs = 5000): Promise<HeldEngine> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-inspect-'));
  const socketPath = path.join(dir, 'engine.sock');
  const held: HeldEngine['held'] = [];
  const server = http.createServer((req, res) => {
    held.push({ path: req.url ?? '', answer: (body) => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(body)); } });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const docker = new DockerAccess({ host: `unix://${socketPath}`, timeoutMs, clusterTimeoutMs: timeoutMs });
  return {
    docker, held,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0)) await c(); });

async function model(timeoutMs?: number): Promise<{ state: SwarmState; engine: HeldEngine; event(action: string): void }> {
  const engine = await heldEngine(timeoutMs);
  const state = new SwarmState(engine.docker, createLogger('test'), { reconcileIntervalMs: 600_000, clusterRefreshMs: 600_000 });
  cleanups.push(() => state.stop(), () => engine.close());
  const event = (action: string) => (state as unknown as { onDockerEvent(ev: RawEvent): void }).onDockerEvent({ Type: 'container', Action: action, Actor: { ID, Attributes: {} } } as RawEvent);
  return { state, engine, event };
}

it('inspects again when start and die arrive while the create inspect is in flight', async () => {
  const { state, engine, event } = await model();
  event('create');
  event('start');
  event('die');
  await until('the create inspect reached the engine', () => engine.held.length === 1, 2000, 5);
  expect(engine.held[0]!.path).toBe(`/containers/${ID}/json`);
  engine.held[0]!.answer(CREATED); // answered before the start took effect
  await until('the model took the first answer', () => state.containers.get(ID)?.state === 'created', 2000, 5);
  await until('a second inspect for the events that came meanwhile', () => engine.held.length === 2, 2000, 5);
  engine.held[1]!.answer(EXITED);
  await until('the model took the second answer', () => state.containers.get(ID)?.state === 'exited', 2000, 5);
  await new Promise((r) => setTimeout(r, 100));
  expect(engine.held).toHaveLength(2);
});

it('retries an inspect that timed out instead of leaving the container out of the model', async () => {
  const { state, engine, event } = await model(150);
  event('create');
  await until('the create inspect reached the engine', () => engine.held.length === 1, 2000, 5);
  // Not answered: the client gives up after 150 ms (DOCKER_TIMEOUT) and the model must ask again.
  await until('a second inspect after the timeout', () => engine.held.length >= 2, 3000, 10);
  expect(state.containers.has(ID)).toBe(false);
  engine.held.at(-1)!.answer(EXITED);
  await until('the retried answer is in the model', () => state.containers.get(ID)?.state === 'exited', 2000, 5);
});

it('takes a start event as "running" while the inspect it asks for is held (the engine is starting a burst)', async () => {
  const { state, engine, event } = await model();
  event('create');
  await until('the create inspect reached the engine', () => engine.held.length === 1, 2000, 5);
  engine.held[0]!.answer(CREATED);
  await until('the model took the first answer', () => state.containers.get(ID)?.state === 'created', 2000, 5);
  let emitted = 0;
  state.on('containers', () => emitted++);
  event('start');
  // The inspect is not answered (held past its timeout in the traced run): consumers still see the container run.
  expect(state.containers.get(ID)?.state).toBe('running');
  expect(emitted).toBe(1);
  await until('the start event\'s inspect reached the engine', () => engine.held.length === 2, 2000, 5);
  engine.held[1]!.answer(EXITED);
  await until('the model took the second answer', () => state.containers.get(ID)?.state === 'exited', 2000, 5);
});

it('keeps the engine up when a reconciliation\'s inspect is held past its timeout, and asks for that container again', async () => {
  const { state, engine } = await model(150);
  const engineEvents: boolean[] = [];
  state.on('engine', (e: { up: boolean }) => engineEvents.push(e.up));
  const reconciled = state.reconcile();
  await until('the reconciliation\'s three calls', () => engine.held.length === 3, 2000, 5);
  const answer = (prefix: string, body: unknown) => engine.held.find((h) => h.path.startsWith(prefix))!.answer(body);
  answer('/info', fixture('info-worker.json'));
  answer('/version', fixture('version.json'));
  // The listing as the engine gives it for this container (its id and state, from the recorded inspect).
  answer('/containers/json', [{ Id: ID, Names: [String(EXITED.Name)], State: (EXITED.State as { Status: string }).Status }]);
  await until('the container\'s inspect', () => engine.held.some((h) => h.path === `/containers/${ID}/json`), 2000, 5);
  // Held: the client gives up after 150 ms. The engine answered everything else: it is up.
  await reconciled;
  expect(engineEvents).toEqual([true]);
  expect(state.engine.up).toBe(true);
  await until('the inspect asked again', () => engine.held.filter((h) => h.path === `/containers/${ID}/json`).length >= 2, 3000, 10);
  engine.held.at(-1)!.answer(EXITED);
  await until('the container in the model', () => state.containers.get(ID)?.state === 'exited', 2000, 5);
  expect(state.engine.up).toBe(true);
});

it('does not bring a destroyed container back when an inspect answered before its removal arrives after the destroy event', async () => {
  const { state, engine, event } = await model();
  event('start');
  await until('the start inspect reached the engine', () => engine.held.length === 1, 2000, 5);
  // A --rm container: exited and removed while its inspect's answer was on its way.
  event('die');
  event('destroy');
  engine.held[0]!.answer(EXITED);
  await new Promise((r) => setTimeout(r, 100));
  expect(state.containers.has(ID)).toBe(false);
  // Held answers of the die's re-inspect come late too.
  for (const h of engine.held.slice(1)) h.answer(EXITED);
  await new Promise((r) => setTimeout(r, 100));
  expect(state.containers.has(ID)).toBe(false);
});

/**
 * Starts a reconciliation and answers its /info, /version and listing (the test's container listed with `names`);
 * returns it still running, so that an inspect it asks for can be answered.
 */
async function reconcileListing(m: Awaited<ReturnType<typeof model>>, names: string[]): Promise<{ done: Promise<void> }> {
  const before = m.engine.held.length;
  const reconciled = m.state.reconcile();
  await until('the reconciliation\'s three calls', () => m.engine.held.length === before + 3, 2000, 5);
  const answer = (prefix: string, body: unknown) => m.engine.held.slice(before).find((h) => h.path.startsWith(prefix))!.answer(body);
  answer('/info', fixture('info-worker.json'));
  answer('/version', fixture('version.json'));
  answer('/containers/json', [{ Id: ID, Names: names, State: (EXITED.State as { Status: string }).Status }]);
  return { done: reconciled }; // wrapped: an async function returning the promise itself would wait for it
}

it('notices a rename the events stream missed: the reconciliation inspects a known container whose listed name changed', async () => {
  const m = await model();
  const inspectAsked = async () => {
    const at = m.engine.held.length;
    await until('an inspect of the container', () => m.engine.held.length === at + 1, 2000, 5);
    expect(m.engine.held[at]!.path).toBe(`/containers/${ID}/json`);
    return m.engine.held[at]!;
  };
  let reconciled = await reconcileListing(m, [String(EXITED.Name)]);
  (await inspectAsked()).answer(EXITED);
  await reconciled.done;
  expect(m.state.containers.get(ID)?.name).toBe(String(EXITED.Name).slice(1));

  // Same name and state listed: nothing to inspect.
  await (await reconcileListing(m, [String(EXITED.Name)])).done;
  await new Promise((r) => setTimeout(r, 50));
  expect(m.engine.held).toHaveLength(7);

  // `docker rename` while the events stream was down: only the listing shows the new name.
  reconciled = await reconcileListing(m, ['/renamed-while-away']);
  (await inspectAsked()).answer({ ...EXITED, Name: '/renamed-while-away' }); // the recorded inspect, as a rename leaves it
  await reconciled.done;
  expect(m.state.containers.get(ID)?.name).toBe('renamed-while-away');
});

/** The die event the engine sent for a container that exited with code 3 (recorded), addressed to the test's container. */
const RECORDED_DIE = (() => {
  const events = JSON.parse(fs.readFileSync(new URL('../fixtures/api/container-events-exit3.json', import.meta.url), 'utf8')) as RawEvent[];
  const die = events.find((e) => e.Action === 'die')!;
  return { ...die, id: ID, Actor: { ...die.Actor, ID } } as RawEvent;
})();

/** A container the model knows as running (its start inspected), then the engine's die event for it. */
async function runningContainer(): Promise<Awaited<ReturnType<typeof model>> & { die(): void }> {
  const m = await model();
  m.event('start');
  await until('the start inspect reached the engine', () => m.engine.held.length === 1, 2000, 5);
  m.engine.held[0]!.answer({ ...EXITED, State: { ...(EXITED.State as object), Status: 'running', Pid: 4242, ExitCode: 0 } });
  await until('the model took the answer', () => m.state.containers.get(ID)?.state === 'running', 2000, 5);
  const die = () => (m.state as unknown as { onDockerEvent(ev: RawEvent): void }).onDockerEvent(RECORDED_DIE);
  return { ...m, die };
}

it('takes a die from the event (exit code, time, no process) without inspecting the container', async () => {
  const { state, engine, die } = await runningContainer();
  let emitted = 0;
  state.on('containers', () => emitted++);
  die();
  const rec = state.containers.get(ID)!;
  expect({ state: rec.state, exitCode: rec.exitCode, pid: rec.pid, finishedAt: rec.finishedAt }).toEqual({ state: 'exited', exitCode: 3, pid: 0, finishedAt: RECORDED_DIE.timeNano / 1e9 });
  expect(emitted).toBe(1);
  await new Promise((r) => setTimeout(r, 100));
  expect(engine.held, 'calls to the engine after the start inspect').toHaveLength(1);
});

it('inspects a die that follows an oom event: only the inspect says the container was OOM-killed', async () => {
  const { state, engine, event, die } = await runningContainer();
  event('oom');
  await until('the oom inspect reached the engine', () => engine.held.length === 2, 2000, 5);
  engine.held[1]!.answer({ ...EXITED, State: { ...(EXITED.State as object), Status: 'running', Pid: 4242 } });
  await until('the oom inspect answered', () => !(state as unknown as { inspecting: Map<string, unknown> }).inspecting.has(ID), 2000, 5);
  die();
  await until('the die inspect reached the engine', () => engine.held.length === 3, 2000, 5);
  engine.held[2]!.answer({ ...EXITED, State: { ...(EXITED.State as object), Status: 'exited', OOMKilled: true, ExitCode: 137 } });
  await until('the model took the die inspect', () => state.containers.get(ID)?.oomKilled === true, 2000, 5);
  expect(state.containers.get(ID)?.state).toBe('exited');
});
