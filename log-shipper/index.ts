import type { AgentContext, Component, ComponentModule } from '../core/runtime/component.js';
import { shipperOptions } from './options.js';
import { settingsFrom } from './settings.js';
import { LogShipper } from './shipper.js';

/** The log shipper as an agent component: `swarmwatch log-shipper`, or part of `swarmwatch agent`. */
export const logShipperModule: ComponentModule = {
  name: 'log-shipper',
  summary: 'Ships every container\'s stdout/stderr to a GELF receiver (UDP, TCP or TLS) with Swarm fields, exactly once across restarts',
  options: shipperOptions,
  needsCluster: false,
  create(ctx: AgentContext): Component {
    // Validation happens here, before anything starts: a bad option is a SW_ERR_CONFIG_INVALID naming it (exit 2).
    const settings = settingsFrom(ctx.config);
    if (!settings) {
      return {
        name: 'log-shipper',
        async start() {
          ctx.log.child('log-shipper').info('no destination configured (shipper.destination / SWARMWATCH_SHIPPER_DESTINATION): log shipper idle');
        },
        async stop() {},
      };
    }
    return new LogShipper(ctx, settings);
  },
};
