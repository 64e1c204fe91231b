import { createHash } from 'node:crypto';
import type { Logger } from '../../core/log.js';
import { isResolved, labelSetString, type Alert, type LabelSet } from '../model.js';
import type { RouteNode, RoutingConfig } from '../config/routing.js';
import type { Acks } from './acks.js';
import type { Inhibitor } from './inhibit.js';
import { NotificationLog, needsUpdate } from './nflog.js';
import { groupLabelsOf, matchRoutes } from './route.js';
import type { Silences } from './silences.js';

/** One notification decided by a group flush, for one receiver; the outbox fans it out to integrations. */
export interface Notification {
  /** Same on every instance for the same decision: receivers can de-duplicate HA notifications by it. */
  id: string;
  receiver: string;
  groupKey: string;
  groupLabels: LabelSet;
  alerts: Alert[];
  createdAt: number;
}

export interface DispatcherDeps {
  inhibitor: Inhibitor;
  silences: Silences;
  acks: Acks;
  nflog: NotificationLog;
  /** All alerts firing now (the inhibition sources). */
  firing(): Alert[];
  /** Whether this instance sends notifications for these alerts (HA: leader only while there is one). */
  mayNotify(alerts: readonly Alert[]): boolean;
  /** Called with the nflog already updated; must persist both before anything is sent. */
  deliver(n: Notification): void;
  /** Called after a flush changed the nflog without a notification (muted, follower, silent resolution). */
  persist(): void;
  log: Logger;
  now?: () => number;
}

const MUTED_RESOLVED_RETENTION_MS = 3600_000;

interface AggregationGroup {
  key: string;
  route: RouteNode;
  labels: LabelSet;
  alerts: Map<string, Alert>;
  timer?: NodeJS.Timeout;
  flushing: boolean;
}

/** Whether an alert is currently muted, and by what (for the API's status field). */
export interface MuteStatus {
  silencedBy: string[];
  inhibitedBy: string[];
}

/**
 * Alertmanager's dispatcher: routes each alert to aggregation groups (route × group labels); a group first
 * flushes after group_wait, then every group_interval; a flush notifies when the set of firing/resolved alerts
 * changed or repeat_interval passed (nflog.ts), leaving out silenced and inhibited alerts.
 */
export class Dispatcher {
  readonly groups = new Map<string, AggregationGroup>();
  private readonly now: () => number;
  private stopped = false;

  constructor(private readonly routing: RoutingConfig, private readonly deps: DispatcherDeps) {
    this.now = deps.now ?? Date.now;
  }

  insert(alert: Alert): void {
    if (this.stopped) return;
    for (const route of matchRoutes(this.routing.route, alert.labels)) {
      const labels = groupLabelsOf(route, alert.labels);
      const key = `${route.key}:${labelSetString(labels)}`;
      let g = this.groups.get(key);
      if (!g) {
        g = { key, route, labels, alerts: new Map(), flushing: false };
        this.groups.set(key, g);
        // An alert older than group_wait (e.g. restored after a restart) needs no further wait.
        const wait = Date.parse(alert.startsAt) + route.groupWaitMs < this.now() ? 0 : route.groupWaitMs;
        this.schedule(g, wait);
      }
      g.alerts.set(alert.fingerprint, { ...alert });
    }
  }

  private schedule(g: AggregationGroup, ms: number): void {
    clearTimeout(g.timer);
    g.timer = setTimeout(() => {
      this.flush(g);
      if (this.groups.get(g.key) === g && !this.stopped) this.schedule(g, g.route.groupIntervalMs);
    }, ms);
    g.timer.unref();
  }

  muteStatus(alert: Alert, firing = this.deps.firing()): MuteStatus {
    return {
      silencedBy: this.deps.silences.silencedBy(alert.labels, this.now()),
      inhibitedBy: this.deps.inhibitor.inhibitedBy(alert, firing),
    };
  }

  /** Runs one flush of a group now; exported for tests and for the API's "notify now" paths. */
  flush(g: AggregationGroup): void {
    const now = this.now();
    const firingAll = this.deps.firing();
    const unmuted = [...g.alerts.values()].filter((a) => {
      const m = this.muteStatus(a, firingAll);
      return m.silencedBy.length === 0 && m.inhibitedBy.length === 0;
    });
    const nflogKey = NotificationLog.keyOf(g.route.receiver, g.key);
    const entry = this.deps.nflog.get(nflogKey);
    const notified = new Set(entry?.firing ?? []);
    const firing = new Set(unmuted.filter((a) => !isResolved(a, now)).map((a) => a.fingerprint));
    // Only the end of something notified is news: an alert that fired and resolved while muted is not.
    const resolvedAll = unmuted.filter((a) => isResolved(a, now)).map((a) => a.fingerprint);
    const resolved = new Set(resolvedAll.filter((fp) => notified.has(fp)));
    const acked = firing.size > 0 && unmuted.filter((a) => firing.has(a.fingerprint)).every((a) => this.deps.acks.isAcked(a));
    if ((firing.size > 0 || resolved.size > 0) && needsUpdate(entry, firing, resolved, now, g.route.repeatIntervalMs, acked)) {
      // One-shot alerts end silently.
      const toSend = unmuted.filter((a) => firing.has(a.fingerprint) || (a.notifyResolved && notified.has(a.fingerprint)));
      this.deps.nflog.set(nflogKey, { firing: [...firing], resolved: [...resolved], at: now });
      if (toSend.length > 0 && this.deps.mayNotify(toSend)) {
        this.deps.deliver({ id: this.notificationId(g, firing, resolved, now), receiver: g.route.receiver, groupKey: g.key, groupLabels: g.labels, alerts: toSend, createdAt: now });
      } else {
        this.deps.persist();
      }
    }
    // Resolved alerts have been accounted for: drop them. A muted resolved alert stays (bounded) so that its
    // resolution is still notified once the mute ends, e.g. quorum-at-risk after quorum-lost resolved.
    for (const fp of resolvedAll) g.alerts.delete(fp);
    for (const [fp, a] of g.alerts) if (isResolved(a, now) && Date.parse(a.endsAt) < now - MUTED_RESOLVED_RETENTION_MS) g.alerts.delete(fp);
    if (g.alerts.size === 0) {
      clearTimeout(g.timer);
      this.groups.delete(g.key);
    }
  }

  /**
   * Derived from the decision, not random: every HA instance that makes the same decision in the same group
   * interval produces the same id (receivers de-duplicate on it; see docs/alerting.md).
   */
  private notificationId(g: AggregationGroup, firing: Set<string>, resolved: Set<string>, now: number): string {
    const slot = Math.floor(now / Math.max(g.route.groupIntervalMs, 1000));
    const h = createHash('sha256').update(`${g.route.receiver}\n${g.key}\n${[...firing].sort().join(',')}\n${[...resolved].sort().join(',')}\n${slot}`).digest('hex');
    return h.slice(0, 32);
  }

  stop(): void {
    this.stopped = true;
    for (const g of this.groups.values()) clearTimeout(g.timer);
    this.groups.clear();
  }
}
