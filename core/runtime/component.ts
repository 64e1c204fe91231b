import type { Express } from 'express';
import type { Registry } from 'prom-client';
import type { Config } from '../config/load.js';
import type { OptionSpec } from '../config/spec.js';
import type { Logger } from '../log.js';
import type { ByteSink } from '../metrics/exposition-writer.js';
import type { CollectorStats } from '../metrics/collector.js';
import type { SwarmState } from '../state/model.js';

/** Appends exposition text at scrape time; for hot collectors that would be slowed by per-sample objects. */
export interface TextCollector {
  name: string;
  collect(): Promise<string> | string;
  /**
   * Optional: writes the text into `sink` chunk by chunk as it is rendered, waiting while the sink is full, so a
   * large scrape is never held whole in memory (core/metrics/exposition-writer.ts).
   */
  stream?(sink: ByteSink): Promise<void>;
}

/** What a component gets from the agent: the shared state model, registry, HTTP app and config. */
export interface AgentContext {
  config: Config;
  state: SwarmState;
  registry: Registry;
  stats: CollectorStats;
  app: Express;
  log: Logger;
  textCollectors: TextCollector[];
  /** Host name reported for this node: node.hostname, else the engine's, else os.hostname(). */
  hostname(): string;
}

export interface Component {
  name: string;
  start(): Promise<void>;
  /** Drains (flushes queues, persists cursors) and closes timers and sockets. */
  stop(): Promise<void>;
}

export interface ComponentModule {
  name: string;
  summary: string;
  options: OptionSpec[];
  /** Whether the component needs nodes/services/tasks from managers. */
  needsCluster: boolean;
  create(ctx: AgentContext): Component;
}
