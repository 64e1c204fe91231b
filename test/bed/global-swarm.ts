/**
 * vitest globalSetup module: one shared swarm for all swarm scenario files.
 *
 *   // vitest.config.ts (swarm project)
 *   globalSetup: ['test/bed/global-swarm.ts']
 *
 *   // in a test file (runs in a worker)
 *   import { attachSwarm } from '../bed/global-swarm.js';
 *   const swarm = attachSwarm();      // reads process.env.SWARMWATCH_TEST_SWARM
 *   // or: attachSwarm(inject('swarmwatchTestSwarm'))
 *
 * setup() starts the swarm in the vitest main process and publishes the path of
 * its swarm.json; workers rebuild the handles from it (sockets, ips, pid files),
 * so node.kill()/node.start() work from a worker too. teardown() stops it.
 *
 * Environment knobs: SWARMWATCH_TEST_SWARM_SUBNET (default: first free of 10.213.0-15),
 * SWARMWATCH_TEST_SWARM_MANAGERS (3), SWARMWATCH_TEST_SWARM_WORKERS (1).
 */
import type {} from 'vitest';
import { startSwarm, type TestSwarm } from './swarm.js';

export { attachSwarm } from './swarm.js';

/** Key for vitest's provide/inject. */
export const SWARM_PROVIDE_KEY = 'swarmwatchTestSwarm';

declare module 'vitest' {
  export interface ProvidedContext {
    swarmwatchTestSwarm: string;
  }
}

/** The part of vitest's TestProject that setup() uses (kept structural so this file does not depend on vitest internals). */
interface ProvideCapable {
  provide?: (key: typeof SWARM_PROVIDE_KEY, value: string) => void;
}

let shared: TestSwarm | undefined;

export async function setup(project?: ProvideCapable): Promise<void> {
  const t0 = Date.now();
  shared = await startSwarm({
    // Default: the first free of 10.213.0 ... 10.213.15, so two test runs on one machine do not collide.
    subnet: process.env.SWARMWATCH_TEST_SWARM_SUBNET,
    managers: Number(process.env.SWARMWATCH_TEST_SWARM_MANAGERS ?? 3),
    workers: Number(process.env.SWARMWATCH_TEST_SWARM_WORKERS ?? 1),
  });
  // Workers are forked after globalSetup and inherit this environment.
  process.env.SWARMWATCH_TEST_SWARM = shared.descriptionFile;
  project?.provide?.(SWARM_PROVIDE_KEY, shared.descriptionFile);
  console.log(`[swarmwatch-bed] swarm ${shared.tag} up in ${Date.now() - t0} ms: ${shared.descriptionFile}`);
}

export async function teardown(): Promise<void> {
  const t0 = Date.now();
  await shared?.stop();
  if (shared) console.log(`[swarmwatch-bed] swarm ${shared.tag} torn down in ${Date.now() - t0} ms`);
  shared = undefined;
  delete process.env.SWARMWATCH_TEST_SWARM;
}
