import type { ClusterView, LocalNode } from '../core/state/types.js';
import type { Alert } from './model.js';

/**
 * Who notifies, so that an engine running on every manager survives the loss of any of them without
 * every manager mailing the same thing:
 *  - leader:     this manager is the Raft leader and the leader is usable → it notifies cluster alerts;
 *  - follower:   another manager leads → this one keeps evaluating (and its nflog current) but stays quiet;
 *  - no-leader:  no usable leader (quorum lost, "no leader", timeouts, leader unreachable) → every surviving
 *                manager notifies, with the same group keys, fingerprints and notification ids;
 *  - standalone: not a manager (worker, no swarm, engine down) → it notifies what it sees.
 * Local alerts (containers, engine of this node) are seen by one node only and are always notified there.
 */
export type NotifierRole = 'leader' | 'follower' | 'no-leader' | 'standalone';

export function notifierRole(localNode: LocalNode | undefined, cluster: ClusterView | undefined): NotifierRole {
  if (!localNode?.swarm.controlAvailable || !cluster) return 'standalone';
  const leader = cluster.nodes.find((n) => n.leader);
  const q = cluster.quorum;
  // A stale listing may still name a dead leader: only a reachable leader with quorum counts.
  const usable = cluster.leaderPresent && leader !== undefined && leader.reachability === 'reachable' && q.reachable >= q.quorum;
  if (!usable) return 'no-leader';
  return leader.id === localNode.swarm.nodeId ? 'leader' : 'follower';
}

export type HaMode = 'leader' | 'all';

export function mayNotify(mode: HaMode, role: NotifierRole, alerts: readonly Alert[]): boolean {
  if (mode === 'all' || role !== 'follower') return true;
  return alerts.some((a) => a.scope === 'local');
}
