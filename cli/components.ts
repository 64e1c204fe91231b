import type { ComponentModule } from '../core/runtime/component.js';

/**
 * Every component the CLI knows, in start order; `agent` runs them all in one process. Modules are imported only
 * when their command runs: a node that runs just the exporter never pays for the mailer or the GELF client.
 */
export interface ComponentEntry {
  name: string;
  load(): Promise<ComponentModule>;
}

export const componentEntries: ComponentEntry[] = [
  { name: 'exporter', load: async () => (await import('../exporter/index.js')).exporterModule },
  { name: 'log-shipper', load: async () => (await import('../log-shipper/index.js')).logShipperModule },
  { name: 'alertmanager', load: async () => (await import('../alertmanager/index.js')).alertmanagerModule },
];

export function loadAllModules(): Promise<ComponentModule[]> {
  return Promise.all(componentEntries.map((e) => e.load()));
}
