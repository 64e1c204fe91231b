import { randomUUID } from 'node:crypto';
import type { Logger } from '../../core/log.js';
import type { Integration, ReceiverConfig } from '../config/routing.js';
import type { Notification } from '../dispatch/dispatcher.js';
import type { AlertMetrics } from '../metrics.js';
import type { NotificationHistory } from '../persist/history.js';
import { DeliveryError } from './errors.js';
import { buildPayload, type WebhookPayload } from './payload.js';

/** One notification for one integration of a receiver, persisted until delivered or given up. */
export interface OutboxEntry {
  id: string;
  notificationId: string;
  receiver: string;
  /** Index into the receiver's integrations at enqueue time; with `kind` it names the integration. */
  integration: number;
  kind: Integration['kind'];
  payload: WebhookPayload;
  attempts: number;
  createdAt: number;
  nextAttemptAt: number;
  lastError?: string;
}

export type IntegrationSender = (target: Integration, payload: WebhookPayload, notificationId: string) => Promise<void>;

export interface OutboxOptions {
  receivers: ReadonlyMap<string, ReceiverConfig>;
  send: IntegrationSender;
  history: NotificationHistory;
  metrics: AlertMetrics;
  log: Logger;
  /** Saves the engine state (outbox included) durably; called before any attempt and after each outcome. */
  persist(): void;
  externalURL: string;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Undelivered notifications older than this are given up. */
  maxAgeMs: number;
  now?: () => number;
}

/**
 * The durable outbox: a notification is written to disk before the first attempt and removed only after the
 * receiver accepted it, so a restart or kill -9 neither loses it nor (outside a window of one attempt) repeats
 * it. Each integration has its own FIFO queue, so an SMTP outage delays email only, and a group's firing and
 * resolved notifications arrive in order.
 */
export class Outbox {
  readonly entries: OutboxEntry[] = [];
  private readonly inFlight = new Map<string, Promise<void>>();
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly o: OutboxOptions) {
    this.now = o.now ?? Date.now;
  }

  restore(list: OutboxEntry[]): void {
    this.entries.push(...list);
    this.o.metrics.outboxPending.set(this.entries.length);
  }

  /** Queues a notification for every integration of its receiver; the caller has already updated the nflog. */
  enqueue(n: Notification): number {
    const receiver = this.o.receivers.get(n.receiver);
    const now = this.now();
    let queued = 0;
    receiver?.integrations.forEach((target, i) => {
      const payload = buildPayload(n, { externalURL: this.o.externalURL, sendResolved: target.sendResolved, maxAlerts: target.kind === 'webhook' ? target.maxAlerts : 0 });
      if (!payload) return;
      this.entries.push({ id: randomUUID(), notificationId: n.id, receiver: n.receiver, integration: i, kind: target.kind, payload, attempts: 0, createdAt: now, nextAttemptAt: now });
      queued++;
    });
    this.o.persist();
    this.o.metrics.outboxPending.set(this.entries.length);
    this.kick();
    return queued;
  }

  private queueKey(e: OutboxEntry): string {
    return `${e.receiver}#${e.integration}`;
  }

  /** Starts the head attempt of every idle queue that is due, and arms a timer for the next due one. */
  kick(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const now = this.now();
    const heads = new Map<string, OutboxEntry>();
    for (const e of this.entries) if (!heads.has(this.queueKey(e))) heads.set(this.queueKey(e), e);
    let nextDue = Infinity;
    for (const [key, e] of heads) {
      if (this.inFlight.has(key)) continue;
      if (e.nextAttemptAt <= now) {
        const p = this.attempt(e).finally(() => { this.inFlight.delete(key); this.kick(); });
        this.inFlight.set(key, p);
      } else {
        nextDue = Math.min(nextDue, e.nextAttemptAt);
      }
    }
    if (nextDue !== Infinity) {
      this.timer = setTimeout(() => this.kick(), Math.max(0, nextDue - now));
      this.timer.unref();
    }
  }

  private integrationName(e: OutboxEntry): string {
    return `${e.kind}[${e.integration}]`;
  }

  private async attempt(e: OutboxEntry): Promise<void> {
    const target = this.o.receivers.get(e.receiver)?.integrations[e.integration];
    const labels = { receiver: e.receiver, integration: e.kind };
    if (!target || target.kind !== e.kind) {
      this.finish(e, 'dropped', 'receiver or integration no longer configured');
      return;
    }
    e.attempts++;
    try {
      await this.o.send(target, e.payload, e.notificationId);
    } catch (err) {
      const de = err instanceof DeliveryError ? err : new DeliveryError((err as Error).message, true);
      e.lastError = de.message;
      const age = this.now() - e.createdAt;
      if (!de.retryable || age >= this.o.maxAgeMs) {
        this.o.metrics.failed.inc(labels);
        this.o.log.error(`notification to ${e.receiver}/${this.integrationName(e)} failed${de.retryable ? ` for ${Math.round(age / 1000)} s; giving up` : ' permanently'}: ${de.message}`, { group: e.payload.groupKey });
        this.finish(e, 'failed', de.message);
        return;
      }
      const backoff = Math.min(this.o.initialBackoffMs * 2 ** (e.attempts - 1), this.o.maxBackoffMs);
      // Jitter spreads retries of several instances and integrations after a shared outage.
      e.nextAttemptAt = this.now() + Math.round(backoff * (0.8 + Math.random() * 0.4));
      this.o.metrics.retried.inc(labels);
      if (e.attempts === 1 || e.attempts % 10 === 0) this.o.log.warn(`notification to ${e.receiver}/${this.integrationName(e)} failed (attempt ${e.attempts}); retrying in ${(backoff / 1000).toFixed(1)} s: ${de.message}`);
      if (!this.stopped) this.o.persist();
      return;
    }
    this.o.metrics.sent.inc(labels);
    this.o.log.info(`notified ${e.receiver}/${this.integrationName(e)}: ${e.payload.status} ${e.payload.groupKey} (${e.payload.alerts.length} alert(s))`);
    this.finish(e, 'sent');
  }

  private finish(e: OutboxEntry, outcome: 'sent' | 'failed' | 'dropped', error?: string): void {
    const i = this.entries.indexOf(e);
    if (i >= 0) this.entries.splice(i, 1);
    this.o.persist();
    this.o.metrics.outboxPending.set(this.entries.length);
    this.o.history.append({
      time: new Date(this.now()).toISOString(), notificationId: e.notificationId, receiver: e.receiver, integration: this.integrationName(e),
      groupKey: e.payload.groupKey, status: e.payload.status, outcome, attempts: e.attempts, error,
      alerts: e.payload.alerts.map((a) => ({ fingerprint: a.fingerprint, alertname: a.labels.alertname ?? '', status: a.status })),
    });
  }

  /** Stops new attempts and waits (bounded) for the ones in flight, so their outcome is persisted. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.inFlight.values()]), new Promise((r) => { timer = setTimeout(r, graceMs); timer.unref(); })]);
    clearTimeout(timer);
  }
}
