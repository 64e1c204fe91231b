/**
 * The built-in rules: what each one watches, its defaults and the text an operator reads at 3 a.m.
 * Runbooks follow Docker's Swarm admin guide (recover from losing quorum, demote/remove/re-join managers,
 * restore from backup, `docker swarm init --force-new-cluster`). Conditions live in evaluate.ts.
 */
export type Severity = 'critical' | 'warning' | 'info';
export type RuleScope = 'cluster' | 'local';

export interface ParamSpec {
  kind: 'int' | 'duration' | 'ratio';
  default: number;
  min?: number;
  description: string;
}

export interface RuleDefinition {
  name: string;
  scope: RuleScope;
  severity: Severity;
  /** How long the condition must hold before the alert fires (ms). */
  forMs: number;
  /** One-shot alerts announce an event; their end is not notified. */
  oneShot?: boolean;
  params: Record<string, ParamSpec>;
  summary: string;
  runbook: string;
}

const HOLD = (ms: number, what: string): ParamSpec => ({ kind: 'duration', default: ms, min: 1000, description: `how long ${what} stays active after the event` });

export const builtinRules: readonly RuleDefinition[] = [
  {
    name: 'SwarmQuorumLost', scope: 'cluster', severity: 'critical', forMs: 0, params: {},
    summary: 'Swarm has lost Raft quorum: no scheduling, updates or joins are possible',
    runbook: 'Existing tasks keep running but the control plane is frozen. 1) Restart the unreachable managers (systemctl start docker on each); quorum returns once more than half of the managers are back. 2) If they cannot come back, on one healthy manager run `docker swarm init --force-new-cluster --advertise-addr <ip>` (keeps services and tasks), then re-join or add managers until you have 3 or 5. 3) If the Raft data is lost, restore /var/lib/docker/swarm from a backup taken on a stopped manager and run `docker swarm init --force-new-cluster`.',
  },
  {
    name: 'SwarmQuorumAtRisk', scope: 'cluster', severity: 'critical', forMs: 0, params: {},
    summary: 'Swarm quorum has no fault tolerance left: one more manager failure stops the control plane',
    runbook: 'Bring the unreachable managers back (restart Docker on them) or replace them: `docker node demote <node>` then `docker node rm <node>` for a dead manager, and promote a healthy worker with `docker node promote <node>` so that the manager count is odd again. Never demote or remove managers while quorum is at risk without checking `docker node ls`.',
  },
  {
    name: 'SwarmManagerCountUnsafe', scope: 'cluster', severity: 'warning', forMs: 60_000, params: {},
    summary: 'Swarm has an even number of managers or a single one',
    runbook: 'An even number of managers tolerates no more failures than one less (N managers tolerate (N-1)/2); a single manager tolerates none. Promote a worker (`docker node promote`) or demote a manager (`docker node demote`) to reach 3, 5 or 7 managers, spread over failure domains.',
  },
  {
    name: 'SwarmManagerUnreachable', scope: 'cluster', severity: 'warning', forMs: 0, params: {},
    summary: 'A Swarm manager is unreachable from the Raft cluster',
    runbook: 'Check the host and its Docker engine (`systemctl status docker`, `journalctl -u docker`), network reachability on TCP 2377 between managers, and disk space. If the manager is gone for good, `docker node demote <node>` and `docker node rm --force <node>` from a healthy manager, then promote or join a replacement (`docker swarm join-token manager`).',
  },
  {
    name: 'SwarmLeaderChanged', scope: 'cluster', severity: 'info', forMs: 0, oneShot: true,
    params: { hold: HOLD(600_000, 'the announcement') },
    summary: 'The Swarm Raft leader changed',
    runbook: 'A leader election happens when the leader dies, is restarted or loses its network. One election is harmless; repeated ones point to an overloaded or partitioned manager: check manager load, clock sync and latency between managers.',
  },
  {
    name: 'SwarmNodeDown', scope: 'cluster', severity: 'warning', forMs: 0, params: {},
    summary: 'A Swarm node is down or disconnected',
    runbook: 'Its tasks are rescheduled on other nodes (replicated services) or missing (global services). Check the host, its Docker engine and its network to the managers. A node that will not return: `docker node rm <node>` after draining it; re-join a rebuilt host with `docker swarm join`.',
  },
  {
    name: 'SwarmNodeUnavailable', scope: 'cluster', severity: 'info', forMs: 0, params: {},
    summary: 'A Swarm node is drained or paused',
    runbook: 'Drained nodes run no tasks, paused nodes get no new ones. If the maintenance is over: `docker node update --availability active <node>`.',
  },
  {
    name: 'SwarmTaskFailed', scope: 'cluster', severity: 'warning', forMs: 0,
    params: { hold: HOLD(300_000, 'the alert') },
    summary: 'Tasks of a service failed or were rejected',
    runbook: 'Read the error with `docker service ps --no-trunc <service>` and the logs with `docker service logs <service>`. Exit 137 usually means killed (OOM or health check), "no suitable node" a placement constraint or missing resources, "No such image" an image not present on the node.',
  },
  {
    name: 'SwarmServiceDegraded', scope: 'cluster', severity: 'warning', forMs: 60_000,
    params: { min_ratio: { kind: 'ratio', default: 1, min: 0, description: 'fires when running/desired falls below this ratio' } },
    summary: 'A service runs fewer tasks than desired',
    runbook: 'Check `docker service ps <service>` for pending tasks ("no suitable node": constraints, resources or a missing image) and failing ones. Fix the cause or scale with `docker service scale`.',
  },
  {
    name: 'SwarmServiceUpdateFailed', scope: 'cluster', severity: 'warning', forMs: 0, params: {},
    summary: 'A service update paused or rolled back',
    runbook: 'Read UpdateStatus with `docker service inspect --format "{{json .UpdateStatus}}" <service>`. Fix the new image/configuration and run `docker service update <service>` again, or `docker service rollback <service>`.',
  },
  {
    name: 'ContainerRestartLoop', scope: 'local', severity: 'warning', forMs: 0,
    params: {
      restarts: { kind: 'int', default: 3, min: 1, description: 'container deaths within the window that count as a loop' },
      window: { kind: 'duration', default: 300_000, min: 1000, description: 'sliding window for counting deaths' },
    },
    summary: 'A container keeps dying and restarting',
    runbook: 'Look at the exit code and the last log lines (`docker logs --tail 50 <container>` or `docker service logs <service>`); a crash on start is usually configuration, a missing secret or an unreachable dependency.',
  },
  {
    name: 'ContainerOomKilled', scope: 'local', severity: 'warning', forMs: 0, oneShot: true,
    params: { hold: HOLD(600_000, 'the announcement') },
    summary: 'A container was killed by the out-of-memory killer',
    runbook: 'Raise the memory limit (`docker service update --limit-memory`) or find the leak; compare container_memory_working_set_bytes with container_spec_memory_limit_bytes.',
  },
  {
    name: 'ContainerUnhealthy', scope: 'local', severity: 'warning', forMs: 0, params: {},
    summary: 'A container reports unhealthy',
    runbook: 'Read the health check output with `docker inspect --format "{{json .State.Health}}" <container>`. Swarm replaces unhealthy task containers; a container that stays unhealthy is not under Swarm or keeps failing its check.',
  },
  {
    name: 'EngineUnreachable', scope: 'local', severity: 'critical', forMs: 0, params: {},
    summary: 'The Docker engine of this node does not answer',
    runbook: 'Check `systemctl status docker` and `journalctl -u docker` on the node; a hung engine can be restarted with `systemctl restart docker` (its tasks restart). On a manager this also removes one manager from the Raft quorum.',
  },
];

export const ruleByName = new Map(builtinRules.map((r) => [r.name, r]));
