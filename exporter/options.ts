import type { OptionSpec } from '../core/config/spec.js';

/** Options of the exporter itself; container-metric options live in options-container.ts. */
export const exporterOwnOptions: OptionSpec[] = [
  { key: 'exporter.cluster-max-age', type: 'duration', default: '0s', min: 0, description: 'A scrape on a manager first re-lists nodes/services/tasks unless the view is younger than this (0: every scrape reads the API, so a fault the API shows is in the next scrape)' },
  { key: 'exporter.failure-history', type: 'int', default: 100, min: 1, max: 10000, description: 'Recent task failures (with their error text) kept for GET /api/v1/task-failures' },
  { key: 'exporter.engine-metrics-url', type: 'string', default: '', description: 'The local engine\'s metrics-addr endpoint (e.g. http://172.18.0.1:9323/metrics) relayed at /engine/metrics; empty disables the relay' },
];
