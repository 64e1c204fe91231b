import type { Registry } from 'prom-client';
import type { Logger } from '../core/log.js';
import type { SwarmState } from '../core/state/model.js';
import { AlertStore, type PostableAlert, type StoredAlert } from './alert-store.js';
import type { RoutingConfig } from './config/routing.js';
import { Acks, type Acknowledgement } from './dispatch/acks.js';
import { Dispatcher, type Notification } from './dispatch/dispatcher.js';
import { matchRoutes } from './dispatch/route.js';
import { Inhibitor } from './dispatch/inhibit.js';
import { NotificationLog, type NflogEntry } from './dispatch/nflog.js';
import { Silences, type Silence } from './dispatch/silences.js';
import { mayNotify, notifierRole, type HaMode, type NotifierRole } from './ha.js';
import { AlertMetrics } from './metrics.js';
import { type Alert, type LabelSet } from './model.js';
import { EmailSender } from './notify/email.js';
import { Outbox, type IntegrationSender, type OutboxEntry } from './notify/outbox.js';
import { sendWebhook } from './notify/webhook.js';
import { NotificationHistory } from './persist/history.js';
import { StateFile } from './persist/state-file.js';
import type { RuleSet } from './rules/config.js';
import { EventMemory, type EventMemorySnapshot } from './rules/event-memory.js';
import { evaluators, type EvalInputs } from './rules/evaluate.js';

/** The parts of the state model the engine reads (a SwarmState, or a fake of it in unit tests). */
/** What the engine reads from the shared state model; the listener methods' return values are not used. */
export type StateSource = Pick<SwarmState, 'cluster' | 'localNode' | 'engine' | 'containers' | 'refreshCluster'> & {
  on(event: string, listener: (...args: never[]) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
};

export interface AlertEngineOptions {
  rules: RuleSet;
  commonLabels: LabelSet;
  routing: RoutingConfig;
  stateDir: string;
  haMode: HaMode;
  evaluationIntervalMs: number;
  faultRefreshIntervalMs: number;
  resolveTimeoutMs: number;
  externalURL: string;
  retryInitialMs: number;
  retryMaxMs: number;
  notifyMaxAgeMs: number;
  historyLimit: number;
  hostname(): string;
  /** Replaces the real email/webhook senders (tests). */
  send?: IntegrationSender;
}

interface PersistedState {
  version: 1;
  alerts: StoredAlert[];
  nflog: [string, NflogEntry][];
  silences: Silence[];
  acks: Acknowledgement[];
  outbox: OutboxEntry[];
  memory: EventMemorySnapshot;
}

const RESOLVED_RETENTION_MS = 15 * 60_000;
const NFLOG_RETENTION_MS = 5 * 24 * 3600_000;

/**
 * Wires the alert engine: state-model events → rules → alert store → dispatcher (routes, groups, silences,
 * inhibition, acknowledgements, HA gate) → durable outbox → email/webhook. Everything that must survive a
 * restart is one fsynced state file; delivery records go to history.jsonl.
 */
export class AlertEngine {
  readonly store: AlertStore;
  readonly memory = new EventMemory();
  readonly silences = new Silences(RESOLVED_RETENTION_MS * 4 * 24);
  readonly acks = new Acks();
  readonly nflog = new NotificationLog(NFLOG_RETENTION_MS);
  readonly dispatcher: Dispatcher;
  readonly outbox: Outbox;
  readonly history: NotificationHistory;
  readonly metrics: AlertMetrics;
  private readonly stateFile: StateFile<PersistedState>;
  private readonly email = new EmailSender();
  private readonly listeners: [string, (...args: never[]) => void][] = [];
  private tickTimer?: NodeJS.Timeout;
  private faultTimer?: NodeJS.Timeout;
  private faultRefresh?: Promise<void>;
  private dirty = false;
  private started = false;
  startedAt = '';
  private lastRole?: NotifierRole;

  constructor(private readonly state: StateSource, registry: Registry, private readonly log: Logger, private readonly o: AlertEngineOptions) {
    this.store = new AlertStore(o.resolveTimeoutMs, RESOLVED_RETENTION_MS);
    this.stateFile = new StateFile(o.stateDir, 'state.json');
    this.history = new NotificationHistory(o.stateDir, o.historyLimit);
    this.metrics = new AlertMetrics(registry, () => this.store.firing());
    const inhibitor = new Inhibitor(o.routing.inhibitRules);
    this.outbox = new Outbox({
      receivers: o.routing.receivers, history: this.history, metrics: this.metrics, log: log.child('outbox'), persist: () => this.persist(),
      externalURL: o.externalURL, initialBackoffMs: o.retryInitialMs, maxBackoffMs: o.retryMaxMs, maxAgeMs: o.notifyMaxAgeMs,
      send: o.send ?? ((t, p, id) => (t.kind === 'email' ? this.email.send(t, p, id) : sendWebhook(t, p, id))),
    });
    this.dispatcher = new Dispatcher(o.routing, {
      inhibitor, silences: this.silences, acks: this.acks, nflog: this.nflog, log: log.child('dispatch'),
      firing: () => this.store.firing(),
      mayNotify: (alerts) => mayNotify(o.haMode, this.role(), alerts),
      deliver: (n) => this.deliver(n),
      persist: () => this.persist(),
    });
    this.store.on('change', (a) => this.onAlertChange(a));
  }

  role(): NotifierRole {
    return notifierRole(this.state.localNode, this.state.cluster);
  }

  receiverNames(): string[] {
    return [...this.o.routing.receivers.keys()];
  }

  /** The receivers an alert is routed to, for the API's gettableAlert.receivers. */
  receiverNamesFor(a: Alert): string[] {
    return [...new Set(matchRoutes(this.o.routing.route, a.labels).map((r) => r.receiver))];
  }

  get ready(): boolean {
    return this.started;
  }

  start(): void {
    const saved = this.stateFile.load();
    if (saved) {
      this.store.restore(saved.alerts ?? []);
      this.nflog.restore(saved.nflog ?? []);
      this.silences.restore(saved.silences ?? []);
      this.acks.restore(saved.acks ?? []);
      this.outbox.restore(saved.outbox ?? []);
      this.memory.restore(saved.memory ?? {});
      // Groups are rebuilt from the restored alerts; the nflog decides that nothing already sent goes again.
      for (const s of this.store.alerts.values()) if (s.state !== 'pending') this.dispatcher.insert(s.alert);
      this.log.info(`restored alert state: ${this.store.firing().length} firing, ${this.outbox.entries.length} notification(s) to deliver`);
    }
    if ([...this.o.routing.receivers.values()].every((r) => r.integrations.length === 0)) {
      this.log.warn('no receiver is configured: alerts are evaluated, served at /api/v2/alerts and logged, but not sent (set alertmanager.email.to + alertmanager.smtp.host, alertmanager.webhook.url, or alertmanager.routing-file)');
    }
    const on = <K extends 'cluster' | 'task-failure' | 'container-event' | 'engine' | 'local-node' | 'containers'>(event: K, fn: (...args: never[]) => void) => {
      this.state.on(event, fn as never);
      this.listeners.push([event, fn]);
    };
    on('cluster', ((view: NonNullable<StateSource['cluster']>) => { this.memory.observeCluster(view, Date.now()); this.evaluate(); }) as never);
    on('task-failure', ((f: Parameters<EventMemory['recordTaskFailure']>[0]) => {
      // Tasks of a removed service end as failed/shutdown: that is the removal, not a failure.
      if (f.serviceName === f.serviceId) return;
      this.memory.recordTaskFailure(f, Date.now()); this.dirty = true; this.evaluate(); }) as never);
    on('container-event', ((ev: Parameters<EventMemory['recordContainerEvent']>[0]) => {
      if (this.memory.recordContainerEvent(ev, Date.now(), this.param('ContainerRestartLoop', 'window', 300_000))) { this.dirty = true; this.evaluate(); }
    }) as never);
    on('engine', (() => this.evaluate()) as never);
    on('local-node', (() => this.evaluate()) as never);
    on('containers', (() => this.evaluate()) as never);
    if (this.state.cluster) this.memory.observeCluster(this.state.cluster, Date.now());
    this.evaluate();
    this.outbox.kick();
    this.tickTimer = setInterval(() => this.tick(), this.o.evaluationIntervalMs);
    this.tickTimer.unref();
    this.faultTimer = setInterval(() => this.refreshWhileFaulty(), this.o.faultRefreshIntervalMs);
    this.faultTimer.unref();
    this.started = true;
    this.startedAt = new Date().toISOString();
  }

  private param(rule: string, name: string, fallback: number): number {
    return this.o.rules.get(rule)?.params[name] ?? fallback;
  }

  /** Runs every enabled rule against the current state; cheap, so it runs on every relevant event. */
  evaluate(now = Date.now()): void {
    const inp: EvalInputs = {
      now, cluster: this.state.cluster, localNode: this.state.localNode, engine: this.state.engine,
      containers: this.state.containers.values(), memory: this.memory, hostname: this.o.hostname(),
    };
    for (const s of this.o.rules.values()) {
      if (!s.enabled) continue;
      const conditions = evaluators[s.definition.name]!(inp, s);
      if (conditions === undefined) continue;
      const d = s.definition;
      this.store.applyRule({
        rule: d.name, scope: d.scope, forMs: s.forMs, notifyResolved: !d.oneShot,
        alerts: conditions.map((c) => ({
          labels: nonEmpty({ ...this.o.commonLabels, ...s.labels, ...c.labels, alertname: d.name, severity: s.severity }),
          annotations: nonEmpty({ summary: d.summary, description: c.description, runbook: d.runbook, ...c.annotations }),
        })),
      }, now);
    }
    this.metrics.evaluations.inc();
    if (this.dirty) this.persist();
  }

  private tick(): void {
    const now = Date.now();
    this.memory.prune(now, {
      taskFailure: this.param('SwarmTaskFailed', 'hold', 300_000), oom: this.param('ContainerOomKilled', 'hold', 600_000),
      deathWindow: this.param('ContainerRestartLoop', 'window', 300_000), leader: this.param('SwarmLeaderChanged', 'hold', 600_000),
    });
    this.evaluate(now);
    this.store.tick(now);
    if (this.silences.gc(now) || this.nflog.gc(now) || this.acks.gc(this.store.firing())) this.dirty = true;
    const role = this.role();
    this.metrics.notifying.set(role === 'follower' && this.o.haMode === 'leader' ? 0 : 1);
    if (role !== this.lastRole) {
      if (this.lastRole !== undefined) this.log.info(`notifier role: ${role}`);
      this.lastRole = role;
    }
    if (this.dirty) this.persist();
  }

  /**
   * While a cluster fault is suspected, refresh faster than cluster.refresh-interval: a second manager's loss
   * emits no swarm event, and only a fresh listing shows its reachability (the API shows it within a second).
   */
  private refreshWhileFaulty(): void {
    const c = this.state.cluster;
    if (!c || this.faultRefresh || !this.state.localNode?.swarm.controlAvailable) return;
    const suspect = c.stale || !c.leaderPresent || c.quorum.margin <= 0 && c.quorum.managers > 1
      || c.nodes.some((n) => n.role === 'manager' && n.reachability !== 'reachable');
    if (!suspect) return;
    this.faultRefresh = this.state.refreshCluster().catch(() => undefined).finally(() => { this.faultRefresh = undefined; });
  }

  private onAlertChange(a: Alert): void {
    this.dirty = true;
    const resolved = a.endsAt !== '0001-01-01T00:00:00Z' && Date.parse(a.endsAt) <= Date.now();
    const what = `${a.labels.alertname}${labelsForLog(a.labels)}`;
    if (resolved) this.log.info(`alert resolved: ${what}`);
    else this.log.warn(`alert firing: ${what}: ${a.annotations.description ?? a.annotations.summary ?? ''}`, { severity: a.labels.severity, fingerprint: a.fingerprint });
    this.dispatcher.insert(a);
  }

  private deliver(n: Notification): void {
    const queued = this.outbox.enqueue(n);
    if (queued === 0) this.log.info(`notification for ${n.groupKey} (${n.alerts.length} alert(s)) has no integration to go to`, { receiver: n.receiver });
  }

  /** Saves everything that must survive a restart; called before any send and after every outcome. */
  persist(): void {
    this.dirty = false;
    try {
      this.stateFile.save({
        version: 1, alerts: this.store.snapshot(), nflog: [...this.nflog.entries], silences: this.silences.list(),
        acks: this.acks.list(), outbox: this.outbox.entries, memory: this.memory.snapshot(),
      });
    } catch (err) {
      this.dirty = true;
      this.log.error(`cannot save alert state to ${this.stateFile.path}: ${(err as Error).message}`);
    }
  }

  postAlerts(list: PostableAlert[], now = Date.now()): void {
    for (const p of list) this.store.upsertExternal(p, now);
    this.persist();
  }

  createSilence(input: Omit<Silence, 'id' | 'updatedAt'> & { id?: string }): Silence {
    const s = this.silences.upsert(input, Date.now());
    this.persist();
    return s;
  }

  expireSilence(id: string): boolean {
    const ok = this.silences.expire(id, Date.now());
    if (ok) this.persist();
    return ok;
  }

  acknowledge(fingerprint: string, by: string, comment: string): Acknowledgement | undefined {
    const s = this.store.alerts.get(fingerprint);
    if (!s || s.state !== 'firing') return undefined;
    const a = this.acks.ack(s.alert, by, comment, Date.now());
    this.persist();
    return a;
  }

  unacknowledge(fingerprint: string): boolean {
    const ok = this.acks.unack(fingerprint);
    if (ok) this.persist();
    return ok;
  }

  async stop(): Promise<void> {
    clearInterval(this.tickTimer);
    clearInterval(this.faultTimer);
    for (const [event, fn] of this.listeners) this.state.off(event as 'cluster', fn as never);
    this.listeners.length = 0;
    this.dispatcher.stop();
    await this.outbox.stop();
    this.persist();
    this.email.close();
    this.started = false;
  }
}

function nonEmpty(l: LabelSet): LabelSet {
  const out: LabelSet = {};
  for (const [k, v] of Object.entries(l)) if (v !== undefined && v !== '') out[k] = v;
  return out;
}

function labelsForLog(l: LabelSet): string {
  const rest = Object.keys(l).filter((k) => k !== 'alertname' && k !== 'severity').sort().map((k) => `${k}=${l[k]}`);
  return rest.length ? `{${rest.join(', ')}}` : '';
}
