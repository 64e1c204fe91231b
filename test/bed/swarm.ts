/**
 * A real multi-node swarm on one machine: one private dockerd per node, each in
 * its own network and UTS namespace, joined over a bridge that lives in its own
 * "hub" namespace. The host reaches the nodes through one plain veth.
 *
 *   host (10.213.0.1, link swtest-<tag>)
 *     └─veth─ hub netns swtest-<tag>-hub: bridge br0
 *               ├─veth─ netns swtest-<tag>-manager1: eth0 10.213.0.11
 *               ├─veth─ netns swtest-<tag>-manager2: eth0 10.213.0.12
 *               └─ ...
 *
 * Why a hub namespace: a bridge in the host namespace gets its forwarded frames
 * dropped by a Docker FORWARD DROP policy (bridge-nf-call-iptables=1), and the
 * host firewall is not ours to change. Nodes have no default route: they can
 * only reach addresses the bed created.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ApiResponse } from './api.js';
import { attachEngine, startEngine, type DockerOptions, type EngineDescription, type KillOptions, type PrivateEngine } from './engine.js';
import { BUSYBOX_TAG, loadImageInto } from './image.js';
import { deleteNetns, stopAllStaleOnce, type SwarmResources } from './stale.js';
import {
  BED_ROOT,
  BedError,
  CGROUP_PREFIX,
  NET_PREFIX,
  type OwnerRecord,
  claim,
  currentOwner,
  randomId,
  readJson,
  releaseClaim,
  removeTree,
  run,
  waitFor as pollUntil,
  type Truthy,
  writeJsonAtomic,
  type RunResult,
} from './util.js';

export interface SwarmOptions {
  managers?: number;
  workers?: number;
  /**
   * First three octets of the /24 joining host and nodes (host .1, nodes .11, .12, ...), or a list of
   * candidates of which the first free one is used. Default: 10.213.0 ... 10.213.15, first free.
   */
  subnet?: string | string[];
  /** Short [a-z0-9] tag naming this swarm's netns, links and cgroups (default random). */
  tag?: string;
  /** Image loaded into every node (same ID everywhere); false to skip. Default the busybox test image. */
  image?: string | false;
  /** Per-engine start timeout (default 60 s). */
  readyTimeoutMs?: number;
}

export type SwarmRole = 'manager' | 'worker';

export interface SwarmNodeDescription {
  name: string;
  hostname: string;
  ip: string;
  role: SwarmRole;
  netns: string;
  nodeId: string;
  /** The node engine's base dir; its engine.json holds the current EngineDescription. */
  baseDir: string;
}

/** Contents of swarm.json: enough to rebuild a TestSwarm in another process. */
export interface SwarmDescription extends SwarmResources {
  tag: string;
  subnet: string;
  hostIp: string;
  hostLink: string;
  hubNetns: string;
  baseDir: string;
  image: string | false;
  claims: string[];
  nodes: SwarmNodeDescription[];
  timings: { upMs: number };
}

/** The subset of GET /nodes the bed uses. */
export interface SwarmNodeInfo {
  ID: string;
  Description?: { Hostname?: string };
  Spec: { Role: string; Availability: string };
  Status: { State: string; Message?: string; Addr?: string };
  ManagerStatus?: { Leader?: boolean; Reachability?: string; Addr?: string };
}

export interface SwarmNode {
  readonly name: string;
  readonly hostname: string;
  readonly ip: string;
  readonly role: SwarmRole;
  readonly netns: string;
  readonly socketPath: string;
  readonly dockerHost: string;
  /** http://<ip>:9323/metrics (dockerd's own Prometheus endpoint). */
  readonly metricsUrl: string;
  readonly nodeId: string;
  readonly engine: PrivateEngine;
  docker(args: string[], opts?: DockerOptions): Promise<RunResult>;
  api<T = unknown>(method: string, urlPath: string, body?: unknown, timeoutMs?: number): Promise<ApiResponse<T>>;
  /** SIGKILL dockerd, its containerd and (unless keepContainers) the node's shims and containers: a node crash. */
  kill(opts?: KillOptions): Promise<void>;
  /** Restart after kill(); resolves when /_ping answers (a manager without quorum may take ~20-40 s). */
  start(timeoutMs?: number): Promise<void>;
  isRunning(): boolean;
}

export interface TestSwarm {
  readonly tag: string;
  readonly subnet: string;
  readonly hostIp: string;
  /** Path of swarm.json (what attachSwarm reads). */
  readonly descriptionFile: string;
  readonly description: SwarmDescription;
  readonly nodes: SwarmNode[];
  readonly managers: SwarmNode[];
  readonly workers: SwarmNode[];
  node(name: string): SwarmNode;
  /** The node the running managers name as leader (waits up to timeoutMs for one). */
  leader(timeoutMs?: number): Promise<SwarmNode>;
  /** GET /nodes on the leader. */
  listNodes(): Promise<SwarmNodeInfo[]>;
  /** Polls until `predicate` returns a truthy value (exceptions count as "not yet"). */
  waitFor<T>(predicate: () => T | Promise<T>, timeoutMs: number, what?: string): Promise<Truthy<T>>;
  /** Full teardown: engines, containers, netns, veths, bridge, dirs, cgroups. Idempotent. */
  stop(): Promise<void>;
}

/** A fresh random tag (4 hex chars) for a swarm that must not collide with others. */
export function randomSwarmTag(): string {
  return randomId(2);
}

const SUBNET_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Starts managers + workers nodes, forms the swarm, loads the test image everywhere. */
export async function startSwarm(opts: SwarmOptions = {}): Promise<TestSwarm> {
  const t0 = Date.now();
  await stopAllStaleOnce();
  const desc = planSwarm(opts, await claimTagAndSubnet(opts));
  fs.mkdirSync(desc.baseDir, { recursive: true });
  const file = path.join(desc.baseDir, 'swarm.json');
  writeJsonAtomic(file, desc); // before creating anything, so a crash leaves a record stopAllStale understands
  const engines: PrivateEngine[] = [];
  const swarm = new Swarm(desc, file, engines);
  try {
    await createNetwork(desc);
    engines.push(...(await startNodeEngines(desc, opts.readyTimeoutMs ?? 60_000)));
    await formSwarm(swarm);
    if (desc.image !== false) await loadImageInto(engines, desc.image);
    await swarm.waitHealthy(60_000);
    desc.timings.upMs = Date.now() - t0;
    writeJsonAtomic(file, desc);
    return swarm;
  } catch (err) {
    await swarm.stop().catch(() => undefined);
    throw err instanceof BedError ? err : new BedError(`startSwarm ${desc.tag}: ${(err as Error).message}`);
  }
}

/** Rebuilds a TestSwarm from swarm.json (e.g. in a vitest worker; kill/start work from there too). */
export function attachSwarm(file = process.env.SWARMWATCH_TEST_SWARM): TestSwarm {
  if (!file) throw new BedError('attachSwarm: no description file (SWARMWATCH_TEST_SWARM is not set: is the global swarm setup configured?)');
  const desc = readJson<SwarmDescription>(file);
  const engines = desc.nodes.map((n) => attachEngine(readJson<EngineDescription>(path.join(n.baseDir, 'engine.json'))));
  return new Swarm(desc, file, engines);
}

const DEFAULT_SUBNETS = range(16).map((i) => `10.213.${i}`);

interface Claimed {
  tag: string;
  subnet: string;
  claims: string[];
  owner: OwnerRecord;
}

/**
 * Claims the tag and the first free candidate subnet against parallel test
 * processes (claim files) and against the host's own addresses.
 */
async function claimTagAndSubnet(opts: SwarmOptions): Promise<Claimed> {
  if ((opts.managers ?? 3) < 1 || (opts.managers ?? 3) + (opts.workers ?? 1) > 200) throw new BedError('startSwarm: need 1+ managers and at most 200 nodes');
  const owner = currentOwner();
  const tag = opts.tag ?? randomSwarmTag();
  if (!/^[a-z0-9]{1,4}$/.test(tag)) throw new BedError(`startSwarm: tag must be 1-4 chars [a-z0-9] (link names are limited to 15 chars), got "${tag}"`);
  const candidates = opts.subnet === undefined ? DEFAULT_SUBNETS : [opts.subnet].flat();
  const bad = candidates.find((s) => !SUBNET_RE.test(s));
  if (bad !== undefined) throw new BedError(`startSwarm: subnet must look like "10.213.0", got "${bad}"`);
  if (!claim(`swarm-${tag}`, owner)) throw new BedError(`startSwarm: tag ${tag} is used by another live test process`);
  const hostAddrs = (await run('ip', ['-4', '-o', 'addr', 'show'])).stdout;
  const subnet = candidates.find((s) => !hostAddrs.includes(` ${s}.`) && claim(`subnet-${s}`, owner));
  if (!subnet) {
    releaseClaim(`swarm-${tag}`);
    throw new BedError(`startSwarm: no free subnet among ${candidates.join(', ')} (held by other live test processes or in use on the host)`);
  }
  return { tag, subnet, owner, claims: [`swarm-${tag}`, `subnet-${subnet}`] };
}

function planSwarm(opts: SwarmOptions, { tag, subnet, owner, claims }: Claimed): SwarmDescription {
  const managers = opts.managers ?? 3;
  const workers = opts.workers ?? 1;
  const names = [...range(managers).map((i) => `manager${i + 1}`), ...range(workers).map((i) => `worker${i + 1}`)];
  const baseDir = path.join(BED_ROOT, `swarm-${tag}`);
  const nodes: SwarmNodeDescription[] = names.map((name, i) => ({
    name,
    hostname: name,
    ip: `${subnet}.${11 + i}`,
    role: i < managers ? 'manager' : 'worker',
    netns: `${NET_PREFIX}-${tag}-${name}`,
    nodeId: '',
    baseDir: path.join(baseDir, name),
  }));
  const hubNetns = `${NET_PREFIX}-${tag}-hub`;
  const hostLink = `${NET_PREFIX}-${tag}`;
  return {
    tag,
    subnet,
    hostIp: `${subnet}.1`,
    hostLink,
    hubNetns,
    baseDir,
    image: opts.image === undefined ? BUSYBOX_TAG : opts.image,
    claims,
    nodes,
    owner,
    netns: [hubNetns, ...nodes.map((n) => n.netns)],
    links: [hostLink],
    cgroups: nodes.map((n) => cgroupName(tag, n.name)),
    timings: { upMs: 0 },
  };
}

function cgroupName(tag: string, node: string): string {
  return `${CGROUP_PREFIX}${tag}-${node}`;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_v, i) => i);
}

// ---------------------------------------------------------------- network

async function ip(args: string[]): Promise<void> {
  await run('ip', args);
}

/** Hub netns with a bridge, the host uplink, one netns per node. Stale namespaces of the same name are recreated. */
async function createNetwork(desc: SwarmDescription): Promise<void> {
  // /run is on disk here: files of a previous boot survive as plain files; delete and recreate.
  for (const ns of desc.netns) if (fs.existsSync(`/run/netns/${ns}`)) await deleteNetns(ns);
  await run('ip', ['link', 'del', desc.hostLink], { check: false });
  const hub = desc.hubNetns;
  await ip(['netns', 'add', hub]);
  await ip(['-n', hub, 'link', 'set', 'lo', 'up']);
  await ip(['-n', hub, 'link', 'add', 'br0', 'type', 'bridge']);
  await ip(['-n', hub, 'link', 'set', 'br0', 'up']);
  await ip(['link', 'add', desc.hostLink, 'type', 'veth', 'peer', 'name', 'uplink', 'netns', hub]);
  await ip(['addr', 'add', `${desc.hostIp}/24`, 'dev', desc.hostLink]);
  await ip(['link', 'set', desc.hostLink, 'up']);
  await ip(['-n', hub, 'link', 'set', 'uplink', 'master', 'br0', 'up']);
  for (const node of desc.nodes) await createNodeNetns(desc, node);
}

async function createNodeNetns(desc: SwarmDescription, node: SwarmNodeDescription): Promise<void> {
  const hubSide = `v-${node.name}`.slice(0, 15);
  await ip(['netns', 'add', node.netns]);
  await ip(['-n', desc.hubNetns, 'link', 'add', hubSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.netns]);
  await ip(['-n', desc.hubNetns, 'link', 'set', hubSide, 'master', 'br0', 'up']);
  await ip(['-n', node.netns, 'link', 'set', 'lo', 'up']);
  await ip(['-n', node.netns, 'addr', 'add', `${node.ip}/24`, 'dev', 'eth0']);
  await ip(['-n', node.netns, 'link', 'set', 'eth0', 'up']);
}

// ---------------------------------------------------------------- engines & swarm

function startNodeEngines(desc: SwarmDescription, readyTimeoutMs: number): Promise<PrivateEngine[]> {
  const [a, b] = SUBNET_RE.exec(desc.subnet)!.slice(1);
  return Promise.all(
    desc.nodes.map((node) =>
      startEngine({
        name: node.name,
        baseDir: node.baseDir,
        cgroupParent: `/${cgroupName(desc.tag, node.name)}`,
        netns: node.netns,
        hostname: node.hostname,
        metricsAddr: `${node.ip}:9323`,
        readyTimeoutMs,
        extraArgs: [
          `--swarm-default-advertise-addr=${node.ip}`,
          // Local (non-swarm) networks inside the node netns; never visible on the host.
          `--default-address-pool=base=${a}.${b}.64.0/18,size=24`,
        ],
      }),
    ),
  );
}

/** init on the first manager, then join the other managers one by one (parallel raft joins are fragile) and the workers. */
async function formSwarm(swarm: Swarm): Promise<void> {
  const [a, b] = SUBNET_RE.exec(swarm.subnet)!.slice(1);
  const [first, ...rest] = swarm.nodes;
  if (!first) throw new BedError('startSwarm: no nodes');
  await first.docker(['swarm', 'init', '--advertise-addr', first.ip, '--listen-addr', `${first.ip}:2377`, '--default-addr-pool', `${a}.${b}.128.0/17`]);
  const token = async (role: SwarmRole): Promise<string> => (await first.docker(['swarm', 'join-token', '-q', role])).stdout.trim();
  const tokens = { manager: await token('manager'), worker: await token('worker') };
  const join = (n: SwarmNode): Promise<RunResult> =>
    n.docker(['swarm', 'join', '--token', tokens[n.role], '--advertise-addr', n.ip, '--listen-addr', `${n.ip}:2377`, `${first.ip}:2377`], { timeoutMs: 60_000 });
  const workers = Promise.all(rest.filter((n) => n.role === 'worker').map(join));
  for (const m of rest.filter((n) => n.role === 'manager')) await join(m);
  await workers;
  for (const n of swarm.nodes) {
    const info = await n.api<{ Swarm?: { NodeID?: string } }>('GET', '/info');
    const id = info.body.Swarm?.NodeID;
    if (!id) throw new BedError(`startSwarm: node ${n.name} has no swarm node ID after joining`, n.engine.logTail(15));
    swarm.description.nodes.find((d) => d.name === n.name)!.nodeId = id;
  }
}

class Node implements SwarmNode {
  /** `engineOf` is a getter because startSwarm creates nodes before their engines have started. */
  constructor(private readonly d: SwarmNodeDescription, private readonly engineOf: () => PrivateEngine | undefined) {}

  get engine(): PrivateEngine {
    const e = this.engineOf();
    if (!e) throw new BedError(`node ${this.d.name}: engine not started yet`);
    return e;
  }

  get name(): string { return this.d.name; }
  get hostname(): string { return this.d.hostname; }
  get ip(): string { return this.d.ip; }
  get role(): SwarmRole { return this.d.role; }
  get netns(): string { return this.d.netns; }
  get nodeId(): string { return this.d.nodeId; }
  get socketPath(): string { return this.engine.socketPath; }
  get dockerHost(): string { return this.engine.dockerHost; }
  get metricsUrl(): string { return `http://${this.d.ip}:9323/metrics`; }

  docker(args: string[], opts?: DockerOptions): Promise<RunResult> { return this.engine.docker(args, opts); }
  api<T = unknown>(method: string, urlPath: string, body?: unknown, timeoutMs?: number): Promise<ApiResponse<T>> {
    return this.engine.api<T>(method, urlPath, body, timeoutMs);
  }
  kill(opts?: KillOptions): Promise<void> { return this.engine.kill(opts); }
  start(timeoutMs = 120_000): Promise<void> { return this.engine.start(timeoutMs); }
  isRunning(): boolean { return this.engine.isRunning(); }
}

class Swarm implements TestSwarm {
  readonly nodes: SwarmNode[];

  constructor(readonly description: SwarmDescription, readonly descriptionFile: string, engines: PrivateEngine[]) {
    // startSwarm fills `engines` once they have started; nodes read it lazily.
    this.nodes = description.nodes.map((d, i) => new Node(d, () => engines[i]));
  }

  get tag(): string { return this.description.tag; }
  get subnet(): string { return this.description.subnet; }
  get hostIp(): string { return this.description.hostIp; }
  get managers(): SwarmNode[] { return this.nodes.filter((n) => n.role === 'manager'); }
  get workers(): SwarmNode[] { return this.nodes.filter((n) => n.role === 'worker'); }

  node(name: string): SwarmNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new BedError(`swarm ${this.tag}: no node named ${name}`);
    return n;
  }

  waitFor<T>(predicate: () => T | Promise<T>, timeoutMs: number, what?: string): Promise<Truthy<T>> {
    return pollUntil(predicate, timeoutMs, { what });
  }

  leader(timeoutMs = 30_000): Promise<SwarmNode> {
    return pollUntil(() => this.findLeader(), timeoutMs, { what: `a leader in swarm ${this.tag}` });
  }

  /** Asks each running manager for /nodes and returns the node marked Leader. */
  private async findLeader(): Promise<SwarmNode | undefined> {
    for (const m of this.managers.filter((n) => n.isRunning())) {
      const r = await m.api<SwarmNodeInfo[]>('GET', '/nodes', undefined, 3000).catch(() => undefined);
      if (r?.status !== 200 || !Array.isArray(r.body)) continue;
      const id = r.body.find((n) => n.ManagerStatus?.Leader)?.ID;
      const leader = this.nodes.find((n) => n.nodeId === id);
      if (leader) return leader;
    }
    return undefined;
  }

  async listNodes(): Promise<SwarmNodeInfo[]> {
    const leader = await this.leader();
    const r = await leader.api<SwarmNodeInfo[]>('GET', '/nodes');
    if (r.status !== 200) throw new BedError(`swarm ${this.tag}: GET /nodes on ${leader.name} answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /** All nodes ready and all managers reachable, as the leader sees it. */
  async waitHealthy(timeoutMs: number): Promise<void> {
    await pollUntil(async () => {
      const nodes = await this.listNodes();
      return (
        nodes.length === this.nodes.length &&
        nodes.every((n) => n.Status.State === 'ready' && (n.Spec.Role !== 'manager' || n.ManagerStatus?.Reachability === 'reachable'))
      );
    }, timeoutMs, { what: `all ${this.nodes.length} nodes of swarm ${this.tag} ready` });
  }

  async stop(): Promise<void> {
    const d = this.description;
    if (!fs.existsSync(d.baseDir)) return;
    // No graceful shutdown: the whole swarm goes away, so SIGKILL is faster and just as clean after the sweep.
    await Promise.all(
      d.nodes.map((n) => {
        const file = path.join(n.baseDir, 'engine.json');
        return fs.existsSync(file) ? attachEngine(readJson<EngineDescription>(file)).stop({ graceful: false }) : Promise.resolve();
      }),
    );
    for (const ns of d.netns) await deleteNetns(ns);
    await run('ip', ['link', 'del', d.hostLink], { check: false }); // normally gone with its peer in the hub
    d.claims.forEach(releaseClaim);
    await removeTree(d.baseDir);
  }
}
