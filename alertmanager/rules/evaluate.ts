import type { ClusterView, ContainerRecord, EngineStatus, LocalNode, NodeRecord } from '../../core/state/types.js';
import type { LabelSet } from '../model.js';
import type { EventMemory } from './event-memory.js';
import type { RuleSettings } from './config.js';

/** Everything a rule may look at, gathered once per evaluation. */
export interface EvalInputs {
  now: number;
  cluster?: ClusterView;
  localNode?: LocalNode;
  engine: EngineStatus;
  containers: Iterable<ContainerRecord>;
  memory: EventMemory;
  /** This node's host name, for local alerts. */
  hostname: string;
}

/** One instance of a rule's condition: identity labels plus the text describing it now. */
export interface Condition {
  labels: LabelSet;
  description: string;
  /** Extra annotations (exit code, error text). */
  annotations?: LabelSet;
}

/** `undefined` means "no data to judge": alerts of that rule keep their state instead of resolving. */
type Evaluator = (inp: EvalInputs, s: RuleSettings) => Condition[] | undefined;

const NO_LEADER_KINDS = new Set(['no_leader', 'deadline_exceeded', 'timeout']);

/** Cluster rules judge only from a manager's cluster view. */
function clusterOf(inp: EvalInputs): ClusterView | undefined {
  return inp.localNode?.swarm.controlAvailable ? inp.cluster : undefined;
}

function nodeLabels(n: NodeRecord): LabelSet {
  return { node_id: n.id, hostname: n.hostname, role: n.role };
}

function localLabels(inp: EvalInputs): LabelSet {
  const l: LabelSet = { hostname: inp.hostname };
  if (inp.localNode?.swarm.nodeId) l.node_id = inp.localNode.swarm.nodeId;
  return l;
}

function unreachableManagers(c: ClusterView): NodeRecord[] {
  return c.nodes.filter((n) => n.role === 'manager' && n.reachability === 'unreachable');
}

const names = (ns: NodeRecord[]) => ns.map((n) => n.hostname || n.id).join(', ');

export const evaluators: Record<string, Evaluator> = {
  SwarmQuorumLost(inp) {
    const c = clusterOf(inp);
    if (!c) return undefined;
    const q = c.quorum;
    const byReachability = q.managers > 0 && q.reachable < q.quorum;
    const byApi = c.error !== undefined && NO_LEADER_KINDS.has(c.error.kind);
    if (!byReachability && !byApi) return [];
    const parts: string[] = [];
    if (byReachability) parts.push(`${q.reachable} of ${q.managers} managers are reachable, quorum needs ${q.quorum} (unreachable: ${names(unreachableManagers(c))})`);
    if (byApi) parts.push(`the manager API answers: ${c.error!.message}`);
    return [{ labels: {}, description: parts.join('; ') + '.', annotations: { reason: byReachability ? 'reachability' : c.error!.kind } }];
  },

  SwarmQuorumAtRisk(inp) {
    const c = clusterOf(inp);
    if (!c) return undefined;
    const q = c.quorum;
    // margin 0 because managers were lost (a healthy 2-manager swarm is SwarmManagerCountUnsafe's business).
    if (q.managers === 0 || q.margin !== 0 || q.reachable >= q.managers) return [];
    return [{ labels: {}, description: `${q.reachable} of ${q.managers} managers are reachable and quorum needs ${q.quorum}: losing one more manager stops the control plane (unreachable: ${names(unreachableManagers(c))}).` }];
  },

  SwarmManagerCountUnsafe(inp) {
    const c = clusterOf(inp);
    if (!c) return undefined;
    const m = c.quorum.managers;
    if (m === 0 || (m !== 1 && m % 2 === 1)) return [];
    return [{ labels: {}, description: m === 1 ? 'The swarm has a single manager: losing it loses the control plane.' : `The swarm has ${m} managers, an even number: it tolerates ${Math.floor((m - 1) / 2)} failure(s), no more than ${m - 1} managers would.` }];
  },

  SwarmManagerUnreachable(inp) {
    const c = clusterOf(inp);
    if (!c) return undefined;
    return unreachableManagers(c).map((n) => ({ labels: nodeLabels(n), description: `Manager ${n.hostname} (${n.id}, ${n.managerAddr ?? n.addr}) is unreachable from the Raft cluster.` }));
  },

  SwarmLeaderChanged(inp) {
    if (!clusterOf(inp)) return undefined;
    const ch = inp.memory.leaderChange;
    if (!ch) return [];
    return [{ labels: {}, description: `Raft leadership moved from ${ch.fromHost || ch.fromId} to ${ch.toHost || ch.toId} at ${new Date(ch.at).toISOString()}.`, annotations: { previous_leader: ch.fromHost, new_leader: ch.toHost } }];
  },

  SwarmNodeDown(inp) {
    const c = clusterOf(inp);
    if (!c) return undefined;
    return c.nodes.filter((n) => n.state === 'down' || n.state === 'disconnected').map((n) => ({
      labels: nodeLabels(n), description: `Node ${n.hostname} (${n.role}) is ${n.state}${n.message ? `: ${n.message}` : ''}.`,
    }));
  },

  SwarmNodeUnavailable(inp) {
    const c = clusterOf(inp);
    if (!c) return undefined;
    return c.nodes.filter((n) => n.availability !== 'active').map((n) => ({
      labels: { ...nodeLabels(n), availability: n.availability }, description: `Node ${n.hostname} is set to ${n.availability === 'drain' ? 'drain: it runs no tasks' : 'pause: it takes no new tasks'}.`,
    }));
  },

  SwarmTaskFailed(inp) {
    if (!clusterOf(inp)) return undefined;
    return [...inp.memory.taskFailures.values()].map((f) => ({
      labels: { service_name: f.serviceName, stack: f.stack, state: f.state, exit_code: f.exitCode },
      description: `${f.count} task(s) of service ${f.serviceName} ${f.state}${f.exitCode ? ` with exit code ${f.exitCode}` : ''}; last on ${f.hostname || f.nodeId || 'no node'}: ${f.err}`,
      annotations: { error: f.err, exit_code: f.exitCode, task_id: f.taskId, failures: String(f.count) },
    }));
  },

  SwarmServiceDegraded(inp, s) {
    const c = clusterOf(inp);
    if (!c) return undefined;
    const out: Condition[] = [];
    for (const svc of c.services) {
      if (svc.mode === 'replicated-job' || svc.mode === 'global-job') continue;
      if (svc.desired === undefined || svc.running === undefined || svc.desired === 0) continue;
      if (svc.running / svc.desired >= s.params.min_ratio!) continue;
      const pending = c.tasks.filter((t) => t.serviceId === svc.id && t.desiredState === 'running' && t.state !== 'running');
      const why = pending.find((t) => t.err)?.err ?? pending[0]?.message ?? '';
      out.push({
        labels: { service_name: svc.name, stack: svc.stack },
        description: `Service ${svc.name} runs ${svc.running} of ${svc.desired} desired tasks${why ? `; ${why}` : ''}.`,
        annotations: { running: String(svc.running), desired: String(svc.desired) },
      });
    }
    return out;
  },

  SwarmServiceUpdateFailed(inp) {
    const c = clusterOf(inp);
    if (!c) return undefined;
    return c.services.filter((svc) => ['paused', 'rollback_started', 'rollback_paused', 'rollback_completed'].includes(svc.updateState)).map((svc) => ({
      labels: { service_name: svc.name, stack: svc.stack },
      description: `Update of service ${svc.name} is ${svc.updateState.replace('_', ' ')}${svc.updateMessage ? `: ${svc.updateMessage}` : ''}.`,
      annotations: { update_state: svc.updateState },
    }));
  },

  ContainerRestartLoop(inp, s) {
    const out: Condition[] = [];
    for (const d of inp.memory.deaths.values()) {
      const recent = d.times.filter((t) => t > inp.now - s.params.window!);
      if (recent.length < s.params.restarts!) continue;
      out.push({
        labels: { ...localLabels(inp), ...(d.serviceName ? { service_name: d.serviceName } : { container: d.container }) },
        description: `${d.serviceName ? `Containers of service ${d.serviceName}` : `Container ${d.container}`} died ${recent.length} times in ${Math.round(s.params.window! / 1000)} s on ${inp.hostname} (last exit code ${d.exitCode || 'unknown'}).`,
        annotations: { exit_code: d.exitCode, deaths: String(recent.length) },
      });
    }
    return out;
  },

  ContainerOomKilled(inp) {
    return [...inp.memory.ooms.values()].map((o) => ({
      labels: { ...localLabels(inp), ...(o.serviceName ? { service_name: o.serviceName } : { container: o.container }) },
      description: `Container ${o.container} was killed by the OOM killer on ${inp.hostname} at ${new Date(o.at).toISOString()}.`,
      annotations: { container: o.container },
    }));
  },

  ContainerUnhealthy(inp) {
    if (!inp.engine.up) return undefined;
    const out: Condition[] = [];
    for (const c of inp.containers) {
      if (c.health !== 'unhealthy' || c.state !== 'running') continue;
      out.push({
        labels: { ...localLabels(inp), container: c.name, ...(c.swarm.serviceName ? { service_name: c.swarm.serviceName } : {}) },
        description: `Container ${c.name} (${c.image}) on ${inp.hostname} reports unhealthy.`,
      });
    }
    return out;
  },

  EngineUnreachable(inp) {
    if (inp.engine.up) return [];
    return [{ labels: localLabels(inp), description: `The Docker engine on ${inp.hostname} does not answer: ${inp.engine.lastError?.message ?? 'unknown error'}.` }];
  },
};
