import type { ComponentModule } from '../core/runtime/component.js';
import { exporterModule } from '../exporter/index.js';

/** Every component the CLI knows, in start order; `agent` runs them all in one process. */
export const componentModules: ComponentModule[] = [exporterModule];
