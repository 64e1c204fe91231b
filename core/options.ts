import type { OptionSpec } from './config/spec.js';

/** Options shared by every component of a node: Docker access, HTTP, logging. */
export const coreOptions: OptionSpec[] = [
  { key: 'docker.host', type: 'string', default: '', description: 'Docker engine endpoint (unix:///path.sock, /path.sock or tcp://host:port); empty means $DOCKER_HOST, then unix:///var/run/docker.sock' },
  { key: 'docker.timeout', type: 'duration', default: '5s', min: 100, description: 'Deadline for local engine calls (info, containers, inspect)' },
  { key: 'docker.reconcile-interval', type: 'duration', default: '15s', min: 1000, description: 'Full container/info reconciliation behind the events stream' },
  { key: 'cluster.refresh-interval', type: 'duration', default: '5s', min: 500, description: 'Nodes/services/tasks polling on managers (swarm events trigger extra refreshes)' },
  { key: 'cluster.nodes-interval', type: 'duration', default: '1s', min: 0, description: 'Nodes-only polling on managers that notices a dead manager within about a second (the engine emits no event for it); a change triggers a full refresh; 0 disables' },
  { key: 'cluster.timeout', type: 'duration', default: '3s', min: 100, description: 'Deadline for cluster calls; without quorum the engine hangs them for 20 s, so a timeout counts as "no leader"' },
  { key: 'node.hostname', type: 'string', default: '', description: 'Host name reported for this node (GELF host, labels); empty means the engine\'s host name' },
  { key: 'http.listen', type: 'string', default: '0.0.0.0:9338', description: 'Address:port of the agent\'s HTTP server (/metrics, /-/healthy, component APIs)' },
  { key: 'log.level', type: 'enum', values: ['debug', 'info', 'warn', 'error'], default: 'info', description: 'Verbosity of swarmwatch\'s own log lines (stderr)' },
  { key: 'log.format', type: 'enum', values: ['text', 'json'], default: 'text', description: 'Format of swarmwatch\'s own log lines' },
];
