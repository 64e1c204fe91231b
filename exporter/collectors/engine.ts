import { Counter, Gauge, type Registry } from 'prom-client';
import type { CollectorStats } from '../../core/metrics/collector.js';
import type { SwarmState } from '../../core/state/model.js';

const containerStates = ['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead'] as const;
const localStates = ['inactive', 'pending', 'active', 'error', 'locked'] as const;

/**
 * This engine and this node's place in the swarm, from the shared state model (no Docker call at scrape time:
 * the model is kept current by events and reconciliation).
 */
export function registerEngineCollector(registry: Registry, state: SwarmState, stats?: Pick<CollectorStats, 'countError'>): void {
  const r = [registry];
  const errors = new Counter({
    name: 'swarmwatch_engine_errors_total', help: 'Failed calls to the local Docker engine during reconciliation, by error code (unreachable, permission, timeout…)',
    labelNames: ['code'], registers: r,
  });
  state.on('docker-error', (e) => errors.inc({ code: e.code }));
  new Gauge({
    name: 'swarmwatch_engine_up', help: '1 when the local Docker engine answered the last reconciliation or event stream, 0 otherwise', registers: r,
    collect() {
      this.set(state.engine.up ? 1 : 0);
      // While the engine is unreachable the engine and container families are the model's last picture: every
      // scrape counts it as swarmwatch_collector_errors_total{collector="engine",code=<the engine's error>}.
      if (!state.engine.up && state.engine.lastError) stats?.countError('engine', state.engine.lastError.code);
    },
  });
  new Gauge({
    name: 'swarmwatch_engine_info', help: 'Local Docker engine version and cgroup setup (always 1)',
    labelNames: ['version', 'api_version', 'cgroup_version', 'cgroup_driver', 'os', 'kernel', 'hostname', 'engine_id'], registers: r,
    collect() {
      this.reset();
      const e = state.localNode?.engine;
      if (e) this.set({ version: e.version, api_version: e.apiVersion, cgroup_version: e.cgroupVersion, cgroup_driver: e.cgroupDriver, os: e.os, kernel: e.kernel, hostname: e.hostname, engine_id: e.id }, 1);
    },
  });
  new Gauge({
    name: 'swarmwatch_engine_containers', help: 'Containers on this engine by state', labelNames: ['state'], registers: r,
    collect() {
      this.reset();
      if (!state.engine.up && state.containers.size === 0) return;
      const counts = new Map<string, number>(containerStates.map((s) => [s, 0]));
      for (const c of state.containers.values()) counts.set(c.state, (counts.get(c.state) ?? 0) + 1);
      for (const [s, n] of counts) this.set({ state: s }, n);
    },
  });
  new Gauge({
    name: 'swarmwatch_engine_containers_unhealthy', help: 'Running containers whose healthcheck reports unhealthy', registers: r,
    collect() {
      let n = 0;
      for (const c of state.containers.values()) if (c.health === 'unhealthy' && c.state === 'running') n++;
      this.set(n);
    },
  });
  new Gauge({
    name: 'swarmwatch_node_swarm_info', help: 'This node in the swarm (always 1); role and availability are empty where the node cannot see them (workers)',
    labelNames: ['node_id', 'hostname', 'role', 'availability', 'cluster_id'], registers: r,
    collect() {
      this.reset();
      const n = state.localNode;
      if (!n || !n.swarm.nodeId) return;
      const self = state.cluster?.nodes.find((x) => x.id === n.swarm.nodeId);
      this.set({ node_id: n.swarm.nodeId, hostname: n.engine.hostname, role: n.swarm.isManager ? 'manager' : 'worker', availability: self?.availability ?? '', cluster_id: n.swarm.clusterId }, 1);
    },
  });
  new Gauge({
    name: 'swarmwatch_node_swarm_local_state', help: 'This node\'s LocalNodeState: 1 for the current state, 0 for the others', labelNames: ['state'], registers: r,
    collect() {
      this.reset();
      const n = state.localNode;
      if (!n) return;
      for (const s of localStates) this.set({ state: s }, (n.swarm.localState || 'inactive') === s ? 1 : 0);
    },
  });
  const flag = (name: string, help: string, pick: () => boolean | undefined) => new Gauge({
    name, help, registers: r,
    collect() { const v = pick(); if (v === undefined) this.reset(); else this.set(v ? 1 : 0); },
  });
  flag('swarmwatch_node_swarm_manager', '1 when this node is a swarm manager', () => state.localNode?.swarm.isManager);
  flag('swarmwatch_node_swarm_leader', '1 when this node is the Raft leader (as seen in its own node listing)', () => state.localNode?.swarm.isLeader);
  flag('swarmwatch_node_swarm_control_available', '1 when this node\'s engine reports ControlAvailable (an active manager)', () => state.localNode?.swarm.controlAvailable);
  flag('swarmwatch_node_swarm_error', '1 when /info reports a swarm error on this node (e.g. "does not have a leader")', () => state.localNode ? state.localNode.swarm.error !== '' : undefined);
}
