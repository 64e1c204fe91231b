import { EventEmitter } from 'node:events';
import type { DockerAccess } from '../docker/access.js';
import { EventFollower } from '../docker/events.js';
import { kindOf } from '../docker/classify.js';
import type { RawEvent } from '../docker/types.js';
import { asSwarmwatchError, ErrorCodes, type SwarmwatchError } from '../errors.js';
import type { Logger } from '../log.js';
import { containerFromInspect, localNodeFrom, nodeFromRaw, quorumOf, serviceFromRaw, taskFromRaw } from './convert.js';
import type { ClusterView, ContainerRecord, EngineStatus, LocalNode, TaskFailure } from './types.js';

export interface SwarmStateOptions {
  /** Full container/info reconciliation, the safety net behind the events stream. */
  reconcileIntervalMs: number;
  /** Cluster (nodes/services/tasks) polling on managers; swarm events trigger extra refreshes. */
  clusterRefreshMs: number;
  /**
   * Nodes-only polling on managers. The engine emits no event when a manager dies (reachability changes silently),
   * so this cheap poll is what notices it within about a second. 0 disables it.
   */
  nodesRefreshMs?: number;
  /** Whether to list tasks (the exporter and alert engine need them; a shipper-only agent does not). */
  watchTasks?: boolean;
}

export interface SwarmStateEvents {
  engine: [EngineStatus];
  'local-node': [LocalNode];
  containers: [];
  'container-event': [RawEvent];
  'swarm-event': [RawEvent];
  cluster: [ClusterView];
  'task-failure': [TaskFailure];
  /** A failed local engine call during reconciliation (cluster failures arrive as `cluster` with `error`). */
  'docker-error': [SwarmwatchError];
}

/**
 * Container events after which the model inspects the container. Not `kill` (a signal; if it ends the process, a
 * die follows) nor `stop` (it comes with the die of the same exit): each cost an inspect per container that
 * `docker stop` or a service scaled down stopped. A die is applied from the event itself (applyDie).
 */
const containerActionsThatChangeState = new Set(['create', 'start', 'restart', 'die', 'oom', 'pause', 'unpause', 'rename', 'health_status', 'update']);
const failedStates = new Set(['failed', 'rejected']);

/**
 * The one picture of the node and (on managers) of the cluster that the exporter, the log shipper and the
 * alert engine all read. Kept current by the events stream, with periodic reconciliation as a safety net.
 * Engine restarts, dropped streams, timeouts and "no leader" are states it reports, never exceptions.
 */
export class SwarmState extends EventEmitter<SwarmStateEvents> {
  readonly containers = new Map<string, ContainerRecord>();
  localNode?: LocalNode;
  cluster?: ClusterView;
  engine: EngineStatus = { up: false, since: Date.now() };

  private readonly follower: EventFollower;
  private reconcileTimer?: NodeJS.Timeout;
  private clusterTimer?: NodeJS.Timeout;
  private nodesTimer?: NodeJS.Timeout;
  private refreshingNodes = false;
  private clusterDebounce?: NodeJS.Timeout;
  private engineRetryTimer?: NodeJS.Timeout;
  private engineRetryMs = 1000;
  private stopped = false;
  private reconciling?: Promise<void>;
  private refreshingCluster?: Promise<void>;
  private queuedRefresh?: Promise<void>;
  private readonly inspecting = new Map<string, Promise<void>>();
  /** Containers with an event that arrived while their inspect was in flight: inspected again after it. */
  private readonly inspectAgain = new Set<string>();
  /**
   * Containers destroyed, with when: an inspect answered before the removal can arrive after the destroy event (its
   * own connection), and stored, it brought the removed container back until the next reconciliation (the log
   * shipper opened a second reader on it, the exporter reported it). Kept a minute.
   */
  private readonly destroyed = new Map<string, number>();
  /** Containers with an oom event since they last started: their die is inspected (the record's oomKilled). */
  private readonly oomSeen = new Set<string>();
  /** Failed/rejected task IDs already reported; pruned when the engine garbage-collects the task. */
  private readonly seenFailedTasks = new Set<string>();
  private failureBaselineDone = false;

  constructor(readonly docker: DockerAccess, private readonly log: Logger, private readonly opts: SwarmStateOptions) {
    super();
    this.follower = new EventFollower(docker, {
      onEvent: (ev) => this.onDockerEvent(ev),
      onConnection: (connected, err) => this.onEventsConnection(connected, err),
    }, log.child('events'));
  }

  async start(): Promise<void> {
    this.follower.start();
    await this.reconcile();
    this.reconcileTimer = setInterval(() => void this.reconcile(), this.opts.reconcileIntervalMs);
    this.reconcileTimer.unref();
    this.clusterTimer = setInterval(() => void this.refreshCluster(), this.opts.clusterRefreshMs);
    this.clusterTimer.unref();
    if (this.opts.nodesRefreshMs) {
      this.nodesTimer = setInterval(() => void this.refreshNodes(), this.opts.nodesRefreshMs);
      this.nodesTimer.unref();
    }
  }

  stop(): void {
    this.stopped = true;
    this.follower.stop();
    clearInterval(this.reconcileTimer);
    clearInterval(this.clusterTimer);
    clearInterval(this.nodesTimer);
    clearTimeout(this.clusterDebounce);
    clearTimeout(this.engineRetryTimer);
    this.removeAllListeners();
  }

  /** Resolves once the first reconciliation ran (whether the engine answered or not). */
  ready(): Promise<void> {
    return this.reconciling ?? Promise.resolve();
  }

  private setEngine(up: boolean, err?: SwarmwatchError): void {
    if (this.engine.up === up && (up || this.engine.lastError)) {
      if (err) this.engine.lastError = err;
      return;
    }
    this.engine = { up, since: Date.now(), lastError: up ? undefined : err };
    if (up) {
      this.engineRetryMs = 1000;
      this.log.info('Docker engine reachable', { endpoint: this.docker.endpoint });
    } else {
      this.log.error(`Docker engine unreachable at ${this.docker.endpoint}: ${err?.message ?? 'unknown error'}; retrying with backoff`, { code: err?.code });
    }
    this.emit('engine', this.engine);
  }

  private scheduleEngineRetry(): void {
    if (this.stopped || this.engineRetryTimer) return;
    this.engineRetryTimer = setTimeout(() => {
      this.engineRetryTimer = undefined;
      void this.reconcile();
    }, this.engineRetryMs);
    this.engineRetryTimer.unref();
    this.engineRetryMs = Math.min(this.engineRetryMs * 2, 30_000);
  }

  /** Full refresh of the local engine picture: info, containers, then the cluster on managers. */
  reconcile(): Promise<void> {
    if (this.reconciling) return this.reconciling;
    this.reconciling = this.doReconcile().finally(() => { this.reconciling = undefined; });
    return this.reconciling;
  }

  private async doReconcile(): Promise<void> {
    if (this.stopped) return;
    try {
      const [info, version, summaries] = await Promise.all([this.docker.info(), this.docker.version(), this.docker.listContainers()]);
      this.setEngine(true);
      const prevNode = this.localNode;
      this.localNode = localNodeFrom(info, version, this.cluster?.nodes.some((n) => n.id === info.Swarm?.NodeID && n.leader) ?? false);
      // Without quorum /info reports an empty Cluster.ID; the node is still in the same swarm, keep the id stable.
      if (!this.localNode.swarm.clusterId && prevNode?.swarm.nodeId === this.localNode.swarm.nodeId) this.localNode.swarm.clusterId = prevNode.swarm.clusterId;
      this.emit('local-node', this.localNode);
      const present = new Set(summaries.map((s) => s.Id));
      let changed = false;
      for (const id of [...this.containers.keys()]) {
        if (!present.has(id)) { this.containers.delete(id); this.oomSeen.delete(id); changed = true; }
      }
      await Promise.all(summaries.map(async (s) => {
        const known = this.containers.get(s.Id);
        // Same state and name: nothing to ask. A rename the events stream missed (it was down, or its event lost)
        // shows only in the listing's names; without this the old name stayed on the container's lines for good.
        if (known && known.state === s.State && s.Names.some((n) => n.replace(/^\//, '') === known.name)) return;
        try {
          await this.inspect(s.Id, false);
          changed = true;
        } catch (err) {
          // The engine answered /info and the listing: it is up, and holds this container's inspect (it does so
          // while it starts a burst of containers). Taken for an unreachable engine, a held inspect raised
          // EngineUnreachable and swarmwatch_engine_up 0 in a deploy of 50 tasks; it is asked again instead.
          if (asSwarmwatchError(err).code !== ErrorCodes.DOCKER_TIMEOUT) throw err;
          this.log.debug('inspect held past its timeout during reconciliation; asking again', { id: s.Id.slice(0, 12) });
          this.inspectForEvent(s.Id);
        }
      }));
      if (changed) this.emit('containers');
      if (this.localNode.swarm.controlAvailable) await this.refreshCluster();
      else if (this.cluster) { this.cluster = undefined; }
    } catch (err) {
      const e = asSwarmwatchError(err);
      this.emit('docker-error', e);
      if (e.code === 'SW_ERR_DOCKER_UNREACHABLE' || e.code === 'SW_ERR_DOCKER_PERMISSION' || e.code === 'SW_ERR_DOCKER_TIMEOUT') {
        this.setEngine(false, e);
        this.scheduleEngineRetry();
      } else {
        this.log.warn('reconciliation failed', { code: e.code, error: e.message });
      }
    }
  }

  /** Inspects one container and stores it; a container that vanished meanwhile is dropped. */
  private inspect(id: string, emit = true): Promise<void> {
    const pending = this.inspecting.get(id);
    if (pending) {
      // The pending answer may predate what asked for this one (create → start → die within one inspect during a
      // burst): look again once it is in, or the record stays "created"/"running" until the next reconciliation.
      this.inspectAgain.add(id);
      return pending;
    }
    const p = (async () => {
      try {
        const raw = await this.docker.inspectContainer(id);
        if (this.destroyed.has(id)) return;
        this.containers.set(id, containerFromInspect(raw));
      } catch (err) {
        const e = asSwarmwatchError(err);
        if (e.code === 'SW_ERR_DOCKER_NOT_FOUND') this.containers.delete(id);
        else throw e;
      }
      if (emit) this.emit('containers');
    })().finally(() => {
      this.inspecting.delete(id);
      if (this.inspectAgain.delete(id) && !this.stopped) this.inspectForEvent(id);
    });
    this.inspecting.set(id, p);
    return p;
  }

  /**
   * Inspects after a container event, retrying a failed inspect: during a burst of container starts the engine
   * holds inspects past the call timeout, and a dropped one left the container stale or missing from the model
   * (no log reader, no metrics) until the next reconciliation, 15 s later by default.
   */
  private inspectForEvent(id: string, attempt = 0): void {
    if (this.stopped) return;
    this.inspect(id).catch((err) => {
      this.log.debug('inspect after event failed', { id, attempt, error: (err as Error).message });
      if (attempt >= 4 || this.stopped) return;
      const timer = setTimeout(() => this.inspectForEvent(id, attempt + 1), 250 * 2 ** attempt);
      timer.unref();
    });
  }

  private onEventsConnection(connected: boolean, err?: SwarmwatchError): void {
    if (connected) {
      // Whatever happened while the stream was down is recovered by a full pass.
      void this.reconcile();
    } else if (!this.stopped) {
      this.log.warn('Docker events stream lost; reconnecting', { error: err?.message });
      void this.reconcile();
    }
  }

  private onDockerEvent(ev: RawEvent): void {
    if (ev.Type === 'container') {
      const id = ev.Actor?.ID ?? ev.id ?? '';
      const action = ev.Action.split(':')[0]!;
      if (action === 'oom') this.oomSeen.add(id);
      else if (action === 'start' || action === 'restart' || action === 'destroy') this.oomSeen.delete(id);
      if (action === 'destroy') {
        this.noteDestroyed(id);
        if (this.containers.delete(id)) this.emit('containers');
      } else if (action === 'die' && this.applyDie(id, ev)) {
        // The event said it all.
      } else if (containerActionsThatChangeState.has(action) && id) {
        this.markStarted(id, action);
        this.inspectForEvent(id);
      }
      this.emit('container-event', ev);
    } else if (ev.Type === 'node' || ev.Type === 'service' || (ev.scope === 'swarm')) {
      this.emit('swarm-event', ev);
      this.scheduleClusterRefresh();
    } else if (ev.Type === 'daemon') {
      void this.reconcile();
    }
  }

  private noteDestroyed(id: string): void {
    const now = Date.now();
    this.destroyed.set(id, now);
    if (this.destroyed.size > 1000) for (const [old, at] of this.destroyed) if (now - at > 60_000) this.destroyed.delete(old);
  }

  /**
   * A start event says the container runs before its inspect can: during a burst of starts the engine holds a
   * container's inspect until its start is through (in a traced 50-container run, 46 inspects after start events
   * ran past the 5 s timeout), and every consumer took the stale "created" record at its word (the shipper's
   * reader idled; one container's lines waited 8 s for its exit). The inspect replaces this record when it answers.
   */
  private markStarted(id: string, action: string): void {
    if (action !== 'start' && action !== 'restart') return;
    const known = this.containers.get(id);
    if (!known || known.state === 'running') return;
    this.containers.set(id, { ...known, state: 'running' });
    this.emit('containers');
  }

  /**
   * A die event carries what an inspect would add to the record (the exit: its time, its code; no process any more),
   * so the record is updated from it. Inspected after each die, 50 containers exiting together cost the shipper
   * ≈ 100 ms of CPU (an inspect, its 8 KB answer parsed and converted, per container: measured from the shipper's
   * main thread, schedstat) while it still had the lines those containers wrote to ship. Inspected as before: a
   * container not in the model yet, one whose inspect is in flight (its answer may predate the die: inspected
   * again after it), and one that had an oom event (oomKilled is only in the inspect). Reconciliation compares
   * states as a safety net.
   */
  private applyDie(id: string, ev: RawEvent): boolean {
    const known = this.containers.get(id);
    if (!known || this.inspecting.has(id) || this.oomSeen.has(id)) return false;
    const exitCode = Number(ev.Actor?.Attributes?.exitCode);
    this.containers.set(id, {
      ...known, state: 'exited', pid: 0,
      finishedAt: ev.timeNano ? ev.timeNano / 1e9 : ev.time || Date.now() / 1000,
      exitCode: Number.isFinite(exitCode) ? exitCode : known.exitCode,
    });
    this.emit('containers');
    return true;
  }

  /** Swarm events arrive in bursts (a node update per attribute); one refresh serves them all. */
  private scheduleClusterRefresh(): void {
    clearTimeout(this.clusterDebounce);
    this.clusterDebounce = setTimeout(() => void this.refreshCluster(), 50);
    this.clusterDebounce.unref();
  }

  /**
   * Lists nodes, services and tasks. At most one refresh runs at a time; a call during one resolves after the
   * next full refresh, so a caller always gets data fetched after it asked.
   */
  refreshCluster(): Promise<void> {
    if (!this.localNode?.swarm.controlAvailable || this.stopped) return Promise.resolve();
    if (this.refreshingCluster) {
      this.queuedRefresh ??= this.refreshingCluster.then(() => {
        this.queuedRefresh = undefined;
        return this.refreshCluster();
      });
      return this.queuedRefresh;
    }
    this.refreshingCluster = this.doRefreshCluster().finally(() => { this.refreshingCluster = undefined; });
    return this.refreshingCluster;
  }

  /** Re-lists nodes only (services and tasks keep their last listing); skipped while a full refresh runs. */
  private async refreshNodes(): Promise<void> {
    const prev = this.cluster;
    if (!prev || !this.localNode?.swarm.controlAvailable || this.stopped || this.refreshingCluster || this.refreshingNodes) return;
    this.refreshingNodes = true;
    try {
      const nodes = (await this.docker.listNodes()).map(nodeFromRaw);
      if (this.refreshingCluster || this.cluster !== prev) return; // a full refresh overtook us; its view wins
      const quorum = quorumOf(nodes);
      const changed = JSON.stringify(quorum) !== JSON.stringify(prev.quorum)
        || nodes.some((n, i) => { const o = prev.nodes[i]; return !o || o.id !== n.id || o.state !== n.state || o.reachability !== n.reachability || o.leader !== n.leader || o.availability !== n.availability; })
        || nodes.length !== prev.nodes.length;
      if (!changed && !prev.error) return;
      // Something moved: take the full picture now (services and tasks may have moved with it).
      void this.refreshCluster();
    } catch {
      // A failing nodes listing is news too ("no leader", timeout): the full refresh records it.
      if (!prev.error) void this.refreshCluster();
    } finally {
      this.refreshingNodes = false;
    }
  }

  private async doRefreshCluster(): Promise<void> {
    const attemptedAt = Date.now();
    const prev = this.cluster;
    const [nodesR, servicesR, tasksR] = await Promise.allSettled([
      this.docker.listNodes(),
      this.docker.listServices(),
      this.opts.watchTasks === false ? Promise.resolve([]) : this.docker.listTasks(),
    ]);
    const failure = [nodesR, servicesR, tasksR].find((r): r is PromiseRejectedResult => r.status === 'rejected');
    let error: ClusterView['error'];
    if (failure) {
      const e = asSwarmwatchError(failure.reason);
      const kind = kindOf(e);
      error = { kind, code: e.code, message: e.message };
      if (prev?.error?.kind !== kind) this.log.warn(`cluster API error (${kind}): ${e.message}`, { code: e.code });
    } else if (prev?.error) {
      this.log.info('cluster API answers again');
    }
    const nodes = nodesR.status === 'fulfilled' ? nodesR.value.map(nodeFromRaw) : prev?.nodes ?? [];
    const services = servicesR.status === 'fulfilled' ? servicesR.value.map(serviceFromRaw) : prev?.services ?? [];
    const tasks = tasksR.status === 'fulfilled' ? tasksR.value.map(taskFromRaw) : prev?.tasks ?? [];
    // "no leader" and timeouts mean there is no usable leader, whatever the last listing said.
    const leaderUnusable = error !== undefined && ['no_leader', 'deadline_exceeded', 'timeout'].includes(error.kind);
    const view: ClusterView = {
      nodes, services, tasks,
      fetchedAt: nodesR.status === 'fulfilled' ? attemptedAt : prev?.fetchedAt ?? 0,
      attemptedAt,
      stale: failure !== undefined,
      leaderPresent: !leaderUnusable && nodesR.status === 'fulfilled' && nodes.some((n) => n.leader),
      quorum: quorumOf(nodes),
      error,
    };
    this.cluster = view;
    if (this.localNode) this.localNode.swarm.isLeader = view.leaderPresent && nodes.some((n) => n.leader && n.id === this.localNode!.swarm.nodeId);
    if (tasksR.status === 'fulfilled') this.diffTaskFailures(view);
    this.emit('cluster', view);
  }

  private diffTaskFailures(view: ClusterView): void {
    const listed = new Set<string>();
    const serviceById = new Map(view.services.map((s) => [s.id, s]));
    const hostById = new Map(view.nodes.map((n) => [n.id, n.hostname]));
    for (const t of view.tasks) {
      if (!failedStates.has(t.state)) continue;
      listed.add(t.id);
      if (this.seenFailedTasks.has(t.id)) continue;
      this.seenFailedTasks.add(t.id);
      // Failures older than our first look are history, not news: counting them would spike rate() on restart.
      if (!this.failureBaselineDone) continue;
      const svc = serviceById.get(t.serviceId);
      this.emit('task-failure', {
        taskId: t.id, serviceId: t.serviceId, serviceName: svc?.name ?? t.serviceId, stack: svc?.stack ?? '',
        nodeId: t.nodeId, nodeHostname: hostById.get(t.nodeId) ?? '', state: t.state as 'failed' | 'rejected',
        exitCode: t.exitCode, err: t.err, message: t.message, timestamp: t.timestamp, slot: t.slot,
      });
    }
    for (const id of this.seenFailedTasks) if (!listed.has(id)) this.seenFailedTasks.delete(id);
    this.failureBaselineDone = true;
  }
}
