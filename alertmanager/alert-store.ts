import { EventEmitter } from 'node:events';
import { fingerprintOf, ZERO_TIME, type Alert, type AlertScope, type LabelSet } from './model.js';

export type AlertState = 'pending' | 'firing' | 'resolved';

export interface StoredAlert {
  alert: Alert;
  state: AlertState;
  /** Unix ms when the condition was first seen (start of the `for` wait). */
  activeAt: number;
  /** The rule that owns the alert; external alerts have none. */
  rule?: string;
}

/** A rule's current conditions, already rendered into labels and annotations. */
export interface RuleOutcome {
  rule: string;
  scope: AlertScope;
  forMs: number;
  notifyResolved: boolean;
  alerts: { labels: LabelSet; annotations: LabelSet }[];
}

/** An alert as Prometheus posts it (POST /api/v2/alerts). */
export interface PostableAlert {
  labels: LabelSet;
  annotations?: LabelSet;
  startsAt?: string;
  endsAt?: string;
  generatorURL?: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Pending → firing → resolved, for rule alerts (conditions re-evaluated) and external ones (ended by endsAt,
 * which Prometheus keeps pushing forward while the alert fires). Emits 'change' for every firing or resolved
 * alert whose content changed; pending alerts stay internal, as in Prometheus.
 */
export class AlertStore extends EventEmitter<{ change: [Alert] }> {
  readonly alerts = new Map<string, StoredAlert>();

  constructor(private readonly resolveTimeoutMs: number, private readonly retentionMs: number) {
    super();
  }

  applyRule(outcome: RuleOutcome, now: number): void {
    const seen = new Set<string>();
    for (const a of outcome.alerts) {
      const fp = fingerprintOf(a.labels);
      seen.add(fp);
      let s = this.alerts.get(fp);
      if (!s || s.state === 'resolved') {
        s = {
          rule: outcome.rule, state: 'pending', activeAt: now,
          alert: { labels: a.labels, annotations: a.annotations, startsAt: iso(now), endsAt: ZERO_TIME, updatedAt: iso(now), generatorURL: '', fingerprint: fp, scope: outcome.scope, notifyResolved: outcome.notifyResolved },
        };
        this.alerts.set(fp, s);
      }
      const changedText = JSON.stringify(s.alert.annotations) !== JSON.stringify(a.annotations);
      if (changedText) { s.alert.annotations = a.annotations; s.alert.updatedAt = iso(now); }
      if (s.state === 'pending' && now - s.activeAt >= outcome.forMs) {
        s.state = 'firing';
        s.alert.startsAt = iso(now);
        s.alert.updatedAt = iso(now);
        this.emit('change', s.alert);
      } else if (s.state === 'firing' && changedText) {
        this.emit('change', s.alert);
      }
    }
    for (const [fp, s] of this.alerts) {
      if (s.rule !== outcome.rule || seen.has(fp) || s.state === 'resolved') continue;
      if (s.state === 'pending') { this.alerts.delete(fp); continue; }
      this.resolve(s, now);
    }
  }

  private resolve(s: StoredAlert, now: number): void {
    s.state = 'resolved';
    s.alert.endsAt = iso(now);
    s.alert.updatedAt = iso(now);
    this.emit('change', s.alert);
  }

  /** Alertmanager's merge: an alert posted again extends the known one instead of starting a new one. */
  upsertExternal(p: PostableAlert, now: number, generatorFallback = ''): Alert {
    const fp = fingerprintOf(p.labels);
    const startsAt = p.startsAt ? Date.parse(p.startsAt) : now;
    const endsAt = p.endsAt ? Date.parse(p.endsAt) : now + this.resolveTimeoutMs;
    const prev = this.alerts.get(fp);
    const continuing = prev && prev.state === 'firing';
    const alert: Alert = {
      labels: p.labels, annotations: p.annotations ?? {}, generatorURL: p.generatorURL ?? generatorFallback, fingerprint: fp, scope: 'external', notifyResolved: true,
      startsAt: continuing ? prev!.alert.startsAt : iso(startsAt), endsAt: iso(endsAt), updatedAt: iso(now),
    };
    const state: AlertState = endsAt <= now ? 'resolved' : 'firing';
    if (state === 'resolved' && !continuing) {
      // A resolved alert we never saw firing is not news; keep it only for the API.
      this.alerts.set(fp, { alert, state, activeAt: startsAt });
      return alert;
    }
    this.alerts.set(fp, { alert, state, activeAt: startsAt });
    this.emit('change', alert);
    return alert;
  }

  /** Expires external alerts whose endsAt passed and forgets resolved alerts after the retention. */
  tick(now: number): void {
    for (const [fp, s] of this.alerts) {
      if (s.state === 'firing' && s.alert.scope === 'external' && Date.parse(s.alert.endsAt) <= now) {
        s.state = 'resolved';
        s.alert.updatedAt = iso(now);
        this.emit('change', s.alert);
      } else if (s.state === 'resolved' && Date.parse(s.alert.endsAt) <= now - this.retentionMs) {
        this.alerts.delete(fp);
      }
    }
  }

  firing(): Alert[] {
    return [...this.alerts.values()].filter((s) => s.state === 'firing').map((s) => s.alert);
  }

  snapshot(): StoredAlert[] {
    return [...this.alerts.values()];
  }

  restore(list: StoredAlert[]): void {
    for (const s of list) this.alerts.set(s.alert.fingerprint, s);
  }
}
