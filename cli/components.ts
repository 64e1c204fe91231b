import type { ComponentModule } from '../core/runtime/component.js';
import { alertmanagerModule } from '../alertmanager/index.js';
import { exporterModule } from '../exporter/index.js';
import { logShipperModule } from '../log-shipper/index.js';

/** Every component the CLI knows, in start order; `agent` runs them all in one process. */
export const componentModules: ComponentModule[] = [exporterModule, logShipperModule, alertmanagerModule];
