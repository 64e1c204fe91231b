import { Counter, Gauge, type Registry } from 'prom-client';
import type { CollectorStats } from '../../core/metrics/collector.js';
import type { SwarmState } from '../../core/state/model.js';
import type { ClusterView, TaskFailure } from '../../core/state/types.js';

const nodeStates = ['unknown', 'down', 'ready', 'disconnected'] as const;
const availabilities = ['active', 'pause', 'drain'] as const;
const reachabilities = ['unknown', 'unreachable', 'reachable'] as const;
const updateStates = ['updating', 'paused', 'completed', 'rollback_started', 'rollback_paused', 'rollback_completed'] as const;
const taskStates = ['new', 'pending', 'assigned', 'accepted', 'preparing', 'ready', 'starting', 'running', 'complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned'] as const;
const errorKinds = ['no_leader', 'deadline_exceeded', 'timeout', 'not_manager', 'unreachable', 'other'] as const;

export interface ClusterCollectorOptions {
  /** A scrape refreshes the view first when it is older than this, so a fault the API shows is in the next scrape. */
  maxViewAgeMs: number;
  /** Upper bound on how long a scrape waits for that refresh. */
  refreshWaitMs: number;
  /** How many recent task failures the JSON endpoint keeps. */
  failureHistory: number;
}

/**
 * Cluster state on managers: nodes, quorum, leader, services and task failures. Every manager exports its own
 * view; series from different managers differ only by the scrape's `instance` label (see docs/metrics.md).
 * Workers export none of these families.
 */
export class ClusterCollector {
  readonly recentFailures: TaskFailure[] = [];
  private readonly failures: Counter<'service_name' | 'node_id' | 'exit_code' | 'state'>;
  private readonly apiErrors: Counter<'kind'>;
  private apiErrorsSeeded = false;
  private readonly onCluster = (v: ClusterView) => {
    // Seeded on the first cluster view, so only managers export the family, with every kind from 0.
    if (!this.apiErrorsSeeded) { for (const k of errorKinds) this.apiErrors.inc({ kind: k }, 0); this.apiErrorsSeeded = true; }
    if (v.error) this.apiErrors.inc({ kind: (errorKinds as readonly string[]).includes(v.error.kind) ? v.error.kind : 'other' });
  };
  private readonly onFailure = (f: TaskFailure) => {
    this.failures.inc({ service_name: f.serviceName, node_id: f.nodeId, exit_code: f.exitCode === undefined ? '' : String(f.exitCode), state: f.state });
    this.recentFailures.push(f);
    if (this.recentFailures.length > this.opts.failureHistory) this.recentFailures.shift();
  };

  constructor(registry: Registry, private readonly state: SwarmState, private readonly opts: ClusterCollectorOptions, stats?: CollectorStats) {
    const r = [registry];
    const view = () => (state.localNode?.swarm.controlAvailable ? state.cluster : undefined);
    const fresh = async (): Promise<ClusterView | undefined> => {
      const v = view();
      if (!state.localNode?.swarm.controlAvailable) return undefined;
      if (!v || Date.now() - v.attemptedAt >= opts.maxViewAgeMs) {
        await Promise.race([state.refreshCluster(), new Promise((res) => setTimeout(res, opts.refreshWaitMs).unref())]);
      }
      return view();
    };
    // One refresh serves every family of the same scrape: prom-client calls collect() of each in parallel.
    let pending: Promise<ClusterView | undefined> | undefined;
    const scrapeView = () => {
      pending ??= (stats ? stats.time('cluster', fresh) : fresh()).finally(() => setImmediate(() => { pending = undefined; }));
      return pending;
    };
    const gauge = (name: string, help: string, labelNames: string[], fill: (g: Gauge<string>, v: ClusterView) => void) => new Gauge({
      name, help, labelNames, registers: r,
      async collect() {
        this.reset();
        const v = await scrapeView();
        if (v) fill(this, v);
      },
    });

    gauge('swarmwatch_cluster_node_info', 'Swarm node (always 1)', ['node_id', 'hostname', 'role', 'engine_version', 'address'], (g, v) => {
      for (const n of v.nodes) g.set({ node_id: n.id, hostname: n.hostname, role: n.role, engine_version: n.engineVersion, address: n.addr }, 1);
    });
    gauge('swarmwatch_cluster_node_state', 'Node status: 1 for the current state, 0 for the others', ['node_id', 'hostname', 'state'], (g, v) => {
      for (const n of v.nodes) for (const s of nodeStates) g.set({ node_id: n.id, hostname: n.hostname, state: s }, n.state === s ? 1 : 0);
    });
    gauge('swarmwatch_cluster_node_availability', 'Node availability: 1 for the current one, 0 for the others', ['node_id', 'hostname', 'availability'], (g, v) => {
      for (const n of v.nodes) for (const a of availabilities) g.set({ node_id: n.id, hostname: n.hostname, availability: a }, n.availability === a ? 1 : 0);
    });
    gauge('swarmwatch_cluster_manager_reachability', 'Manager reachability as seen by this manager: 1 for the current value, 0 for the others', ['node_id', 'hostname', 'reachability'], (g, v) => {
      for (const n of v.nodes) if (n.reachability) for (const x of reachabilities) g.set({ node_id: n.id, hostname: n.hostname, reachability: x }, n.reachability === x ? 1 : 0);
    });
    gauge('swarmwatch_cluster_manager_leader', '1 for the manager this manager believes is the Raft leader', ['node_id', 'hostname'], (g, v) => {
      for (const n of v.nodes) if (n.role === 'manager') g.set({ node_id: n.id, hostname: n.hostname }, n.leader && v.leaderPresent ? 1 : 0);
    });
    // Per-cluster gauges carry cluster_id: a family needs a label to be absent rather than 0 where there is no
    // view (prom-client always prints an unlabelled gauge), and one Prometheus may watch several swarms.
    const cluster = () => ({ cluster_id: state.localNode?.swarm.clusterId ?? '' });
    gauge('swarmwatch_cluster_managers', 'Managers in the cluster', ['cluster_id'], (g, v) => g.set(cluster(), v.quorum.managers));
    gauge('swarmwatch_cluster_managers_reachable', 'Managers whose reachability is "reachable"', ['cluster_id'], (g, v) => g.set(cluster(), v.quorum.reachable));
    gauge('swarmwatch_cluster_quorum_size', 'Managers needed for Raft quorum: floor(managers/2)+1', ['cluster_id'], (g, v) => g.set(cluster(), v.quorum.quorum));
    gauge('swarmwatch_cluster_quorum_margin', 'Reachable managers minus quorum size: <0 quorum lost, 0 no fault tolerance', ['cluster_id'], (g, v) => g.set(cluster(), v.quorum.margin));
    gauge('swarmwatch_cluster_leader_present', '1 when the manager API answers with a leader; 0 on "no leader", deadline exceeded or timeout', ['cluster_id'], (g, v) => g.set(cluster(), v.leaderPresent ? 1 : 0));
    gauge('swarmwatch_cluster_view_age_seconds', 'Age of the last successful node listing', ['cluster_id'], (g, v) => g.set(cluster(), v.fetchedAt ? (Date.now() - v.fetchedAt) / 1000 : -1));
    this.apiErrors = new Counter({
      name: 'swarmwatch_cluster_api_errors_total', help: 'Failed cluster refreshes (nodes, services or tasks listing) by kind', labelNames: ['kind'], registers: r,
    });

    const svcLabels = (s: { id: string; name: string; stack: string }) => ({ service_id: s.id, service_name: s.name, stack: s.stack });
    gauge('swarmwatch_service_info', 'Swarm service (always 1)', ['service_id', 'service_name', 'stack', 'mode', 'image'], (g, v) => {
      for (const s of v.services) g.set({ ...svcLabels(s), mode: s.mode, image: s.image }, 1);
    });
    gauge('swarmwatch_service_desired_tasks', 'Tasks the service wants running (ServiceStatus.DesiredTasks)', ['service_id', 'service_name', 'stack'], (g, v) => {
      for (const s of v.services) if (s.desired !== undefined) g.set(svcLabels(s), s.desired);
    });
    gauge('swarmwatch_service_running_tasks', 'Tasks of the service in state running (ServiceStatus.RunningTasks)', ['service_id', 'service_name', 'stack'], (g, v) => {
      for (const s of v.services) if (s.running !== undefined) g.set(svcLabels(s), s.running);
    });
    gauge('swarmwatch_service_completed_tasks', 'Completed tasks of a job service (ServiceStatus.CompletedTasks)', ['service_id', 'service_name', 'stack'], (g, v) => {
      for (const s of v.services) if (s.completed !== undefined) g.set(svcLabels(s), s.completed);
    });
    gauge('swarmwatch_service_update_state', 'Service update state: 1 for the current one, 0 for the others (all 0 when never updated)', ['service_id', 'service_name', 'stack', 'state'], (g, v) => {
      for (const s of v.services) for (const u of updateStates) g.set({ ...svcLabels(s), state: u }, s.updateState === u ? 1 : 0);
    });
    gauge('swarmwatch_service_tasks', 'Task objects of the service in the manager\'s store by state (bounded by task history)', ['service_id', 'service_name', 'stack', 'state'], (g, v) => {
      const byService = new Map(v.services.map((s) => [s.id, s]));
      const counts = new Map<string, Map<string, number>>();
      for (const t of v.tasks) {
        let m = counts.get(t.serviceId);
        if (!m) counts.set(t.serviceId, (m = new Map()));
        m.set(t.state, (m.get(t.state) ?? 0) + 1);
      }
      for (const s of v.services) {
        const m = counts.get(s.id);
        for (const st of taskStates) g.set({ ...svcLabels(byService.get(s.id)!), state: st }, m?.get(st) ?? 0);
      }
    });
    this.failures = new Counter({
      name: 'swarmwatch_task_failures_total', help: 'Tasks seen entering failed or rejected since this exporter started (diffed by task ID, survives task-history GC)',
      labelNames: ['service_name', 'node_id', 'exit_code', 'state'], registers: r,
    });
    state.on('task-failure', this.onFailure);
    state.on('cluster', this.onCluster);
  }

  stop(): void {
    this.state.off('task-failure', this.onFailure);
    this.state.off('cluster', this.onCluster);
  }
}

