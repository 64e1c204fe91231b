import { Counter, Gauge, type Registry } from 'prom-client';
import { asSwarmwatchError } from '../errors.js';

/**
 * Self metrics shared by every collector: how long each one took at the last scrape and how often it failed.
 * A collector that throws still lets the scrape answer; its error is counted here and logged by the caller.
 */
export class CollectorStats {
  readonly duration: Gauge<'collector'>;
  readonly errors: Counter<'collector' | 'code'>;

  constructor(registry: Registry) {
    this.duration = new Gauge({ name: 'swarmwatch_collector_duration_seconds', help: 'Time the collector took during the last scrape', labelNames: ['collector'], registers: [registry] });
    this.errors = new Counter({ name: 'swarmwatch_collector_errors_total', help: 'Errors met by a collector, by error code', labelNames: ['collector', 'code'], registers: [registry] });
  }

  /** Runs a collector body, recording its duration; errors are counted and returned instead of thrown. */
  async time<T>(collector: string, body: () => Promise<T> | T): Promise<T | undefined> {
    const start = process.hrtime.bigint();
    try {
      return await body();
    } catch (err) {
      this.errors.inc({ collector, code: asSwarmwatchError(err).code });
      return undefined;
    } finally {
      this.duration.set({ collector }, Number(process.hrtime.bigint() - start) / 1e9);
    }
  }

  countError(collector: string, code: string, n = 1): void {
    this.errors.inc({ collector, code }, n);
  }
}
