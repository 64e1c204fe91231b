import type { RawEvent } from '../../core/docker/types.js';
import type { ClusterView, TaskFailure } from '../../core/state/types.js';

/**
 * Facts that only exist as events (a task failed, a container was OOM-killed or died, the leader changed):
 * remembered with their time so that rules can keep an alert active for a hold window, and persisted so a
 * restarted engine neither forgets nor re-announces them.
 */
export interface TaskFailureFact {
  serviceName: string;
  stack: string;
  state: string;
  exitCode: string;
  err: string;
  hostname: string;
  nodeId: string;
  taskId: string;
  count: number;
  firstAt: number;
  lastAt: number;
}

export interface OomFact { key: string; container: string; serviceName: string; at: number }

export interface DeathFact { key: string; container: string; serviceName: string; exitCode: string; times: number[] }

export interface LeaderChangeFact { fromId: string; fromHost: string; toId: string; toHost: string; at: number }

export interface EventMemorySnapshot {
  taskFailures: TaskFailureFact[];
  ooms: OomFact[];
  deaths: DeathFact[];
  leaderId?: string;
  leaderHost?: string;
  leaderChange?: LeaderChangeFact;
}

function containerIdentity(ev: RawEvent): { key: string; container: string; serviceName: string } {
  const attrs = ev.Actor?.Attributes ?? {};
  const container = attrs.name ?? (ev.Actor?.ID ?? '').slice(0, 12);
  const serviceName = attrs['com.docker.swarm.service.name'] ?? '';
  // Each restart of a Swarm task is a new container with a new name: count them per service instead.
  return { key: serviceName ? `service:${serviceName}` : `container:${container}`, container, serviceName };
}

export class EventMemory {
  readonly taskFailures = new Map<string, TaskFailureFact>();
  readonly ooms = new Map<string, OomFact>();
  readonly deaths = new Map<string, DeathFact>();
  leaderId?: string;
  leaderHost?: string;
  leaderChange?: LeaderChangeFact;

  recordTaskFailure(f: TaskFailure, now: number): void {
    const exitCode = f.exitCode === undefined ? '' : String(f.exitCode);
    const key = `${f.serviceName}\0${f.state}\0${exitCode}`;
    const prev = this.taskFailures.get(key);
    this.taskFailures.set(key, {
      serviceName: f.serviceName, stack: f.stack, state: f.state, exitCode, err: f.err || f.message,
      hostname: f.nodeHostname, nodeId: f.nodeId, taskId: f.taskId,
      count: (prev?.count ?? 0) + 1, firstAt: prev?.firstAt ?? now, lastAt: now,
    });
  }

  /** Returns true when the event changed a fact. */
  recordContainerEvent(ev: RawEvent, now: number, deathWindowMs: number): boolean {
    const action = ev.Action.split(':')[0];
    if (action === 'oom') {
      const id = containerIdentity(ev);
      this.ooms.set(id.key, { ...id, at: now });
      return true;
    }
    if (action === 'die') {
      const id = containerIdentity(ev);
      const prev = this.deaths.get(id.key);
      const times = [...(prev?.times ?? []).filter((t) => t > now - deathWindowMs), now];
      this.deaths.set(id.key, { ...id, exitCode: ev.Actor?.Attributes?.exitCode ?? '', times });
      return true;
    }
    return false;
  }

  /** Notes the leader of a fresh listing; a different leader than the last one known is a change. */
  observeCluster(view: ClusterView, now: number): void {
    if (view.stale) return;
    const leader = view.nodes.find((n) => n.leader);
    if (!leader) return;
    if (this.leaderId !== undefined && this.leaderId !== leader.id) {
      this.leaderChange = { fromId: this.leaderId, fromHost: this.leaderHost ?? '', toId: leader.id, toHost: leader.hostname, at: now };
    }
    this.leaderId = leader.id;
    this.leaderHost = leader.hostname;
  }

  /** Forgets facts older than their rule's hold window. */
  prune(now: number, holds: { taskFailure: number; oom: number; deathWindow: number; leader: number }): void {
    for (const [k, f] of this.taskFailures) if (f.lastAt <= now - holds.taskFailure) this.taskFailures.delete(k);
    for (const [k, f] of this.ooms) if (f.at <= now - holds.oom) this.ooms.delete(k);
    for (const [k, f] of this.deaths) {
      f.times = f.times.filter((t) => t > now - holds.deathWindow);
      if (f.times.length === 0) this.deaths.delete(k);
    }
    if (this.leaderChange && this.leaderChange.at <= now - holds.leader) this.leaderChange = undefined;
  }

  snapshot(): EventMemorySnapshot {
    return {
      taskFailures: [...this.taskFailures.values()], ooms: [...this.ooms.values()], deaths: [...this.deaths.values()],
      leaderId: this.leaderId, leaderHost: this.leaderHost, leaderChange: this.leaderChange,
    };
  }

  restore(s: Partial<EventMemorySnapshot>): void {
    for (const f of s.taskFailures ?? []) this.taskFailures.set(`${f.serviceName}\0${f.state}\0${f.exitCode}`, f);
    for (const f of s.ooms ?? []) this.ooms.set(f.key, f);
    for (const f of s.deaths ?? []) this.deaths.set(f.key, f);
    this.leaderId = s.leaderId;
    this.leaderHost = s.leaderHost;
    this.leaderChange = s.leaderChange;
  }
}
