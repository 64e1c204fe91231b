/**
 * Cleanup of what a crashed earlier run left behind. Safe to call while other
 * test workers run engines: a resource is only removed when the process that
 * owns it (recorded in engine.json / swarm.json with its start time) is gone.
 * It only ever touches /tmp/swarmwatch-bed, network namespaces and host links
 * named swtest*, and cgroups named swarmwatch-test-*.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EngineDescription } from './engine.js';
import {
  BED_ROOT,
  CGROUP_PREFIX,
  NET_PREFIX,
  type OwnerRecord,
  cgroupRoots,
  destroyCgroup,
  fileAgeMs,
  killAndWait,
  ownerAlive,
  pidsWithCmdline,
  readdirOrEmpty as safeReaddir,
  releaseStaleClaims,
  removeDeadShimSockets,
  removeTree,
  run,
  safeReadJson,
} from './util.js';

/** What a swarm records in swarm.json that matters for cleanup (see swarm.ts). */
export interface SwarmResources {
  owner: OwnerRecord;
  netns: string[];
  links: string[];
  cgroups: string[];
}

export interface StaleReport {
  dirs: string[];
  netns: string[];
  links: string[];
  cgroups: string[];
}

/** Directories under BED_ROOT that are not bed instances. */
const NOT_INSTANCES = new Set(['cache', 'claims']);

/** Names still in use by live owners. */
interface LiveSet {
  netns: Set<string>;
  links: Set<string>;
  cgroups: Set<string>;
}

export async function stopAllStale(): Promise<StaleReport> {
  const report: StaleReport = { dirs: [], netns: [], links: [], cgroups: [] };
  releaseStaleClaims();
  for (const dir of instanceDirs()) {
    if (instanceIsLive(dir, emptyLiveSet())) continue;
    await destroyInstance(dir);
    report.dirs.push(dir);
  }
  await removeOrphans(report);
  return report;
}

function instanceDirs(): string[] {
  return safeReaddir(BED_ROOT).filter((entry) => !NOT_INSTANCES.has(entry)).map((entry) => path.join(BED_ROOT, entry));
}

function emptyLiveSet(): LiveSet {
  return { netns: new Set(), links: new Set(), cgroups: new Set() };
}

/** The resources the live instances have recorded, read now. */
function liveResources(): LiveSet {
  const live = emptyLiveSet();
  for (const dir of instanceDirs()) instanceIsLive(dir, live);
  return live;
}

let once: Promise<StaleReport> | undefined;

/** stopAllStale, run at most once per process (startEngine/startSwarm call this). */
export function stopAllStaleOnce(): Promise<StaleReport> {
  once ??= stopAllStale();
  return once;
}

/** Records the resources of a live instance in `live`; false if the instance is stale. */
function instanceIsLive(dir: string, live: LiveSet): boolean {
  const swarm = safeReadJson<SwarmResources>(path.join(dir, 'swarm.json'));
  const engine = safeReadJson<EngineDescription>(path.join(dir, 'engine.json'));
  const owner = swarm?.owner ?? engine?.owner;
  if (!owner) return fileAgeMs(dir) < 60_000; // just being created by someone
  if (!ownerAlive(owner)) return false;
  if (swarm) {
    swarm.netns.forEach((n) => live.netns.add(n));
    swarm.links.forEach((l) => live.links.add(l));
    swarm.cgroups.forEach((c) => live.cgroups.add(c));
  }
  if (engine) {
    engine.links.forEach((l) => live.links.add(l));
    live.cgroups.add(engine.cgroupParent.replace(/^\//, ''));
  }
  return true;
}

/** Kills every process naming the dir (dockerd, containerd, shims), then unmounts and removes it. */
async function destroyInstance(dir: string): Promise<void> {
  await killAndWait(pidsWithCmdline(`${dir}/`), 'SIGKILL', 5000);
  for (const execRoot of execRootsUnder(dir)) removeDeadShimSockets(execRoot);
  await removeTree(dir);
}

/**
 * Resources named like ours that no live instance records. Listed first, their owners' records read after: an owner
 * records a resource before it creates it, so one listed here that is in use is in records read later. Read before
 * the listing, the records missed a bridge another test worker created in between, and its engine failed to start
 * ("bridge device with non default name swtest-… must be created manually").
 */
async function removeOrphans(report: StaleReport): Promise<void> {
  const cgroups = [...new Set(cgroupRoots().flatMap((root) => safeReaddir(root)).filter((name) => name.startsWith(CGROUP_PREFIX)))];
  const netns = safeReaddir('/run/netns').filter((ns) => ns.startsWith(NET_PREFIX));
  const links = (await hostLinks()).filter((link) => link.startsWith(NET_PREFIX));
  const live = liveResources();
  for (const name of cgroups) {
    if (live.cgroups.has(name)) continue;
    await destroyCgroup(name);
    report.cgroups.push(name);
  }
  for (const ns of netns) {
    if (live.netns.has(ns)) continue;
    await deleteNetns(ns);
    report.netns.push(ns);
  }
  for (const link of links) {
    if (live.links.has(link)) continue;
    await run('ip', ['link', 'del', link], { check: false });
    report.links.push(link);
  }
}

/** `ip netns del`, and if the file is a stale leftover that is no longer a mount, just remove it. */
export async function deleteNetns(name: string): Promise<void> {
  await run('ip', ['netns', 'del', name], { check: false });
  fs.rmSync(path.join('/run/netns', name), { force: true });
}

async function hostLinks(): Promise<string[]> {
  const out = (await run('ip', ['-o', 'link', 'show'], { check: false })).stdout;
  // "7: swtest-1a2b@if6: <...>" -> "swtest-1a2b"
  return out.split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '').filter(Boolean);
}

/** exec/ of an engine dir, or of each node dir of a swarm dir. */
function execRootsUnder(dir: string): string[] {
  return [dir, ...safeReaddir(dir).map((e) => path.join(dir, e))]
    .map((d) => path.join(d, 'exec'))
    .filter((d) => fs.existsSync(d));
}
