import type { LabelSet } from '../model.js';
import { YamlCursor } from '../config/yaml-reader.js';
import { builtinRules, ruleByName, type RuleDefinition, type Severity } from './builtin.js';

/** A built-in rule after the operator's rules file has been applied. */
export interface RuleSettings {
  definition: RuleDefinition;
  enabled: boolean;
  forMs: number;
  severity: Severity;
  labels: LabelSet;
  params: Record<string, number>;
}

export type RuleSet = Map<string, RuleSettings>;

const SEVERITIES: readonly Severity[] = ['critical', 'warning', 'info'];
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Labels the engine sets itself; overriding them would break identity and routing. */
const RESERVED = new Set(['alertname', 'severity']);

export function defaultRuleSet(): RuleSet {
  return new Map(builtinRules.map((d) => [d.name, {
    definition: d, enabled: true, forMs: d.forMs, severity: d.severity, labels: {},
    params: Object.fromEntries(Object.entries(d.params).map(([k, p]) => [k, p.default])),
  }]));
}

function readLabels(c: YamlCursor): LabelSet {
  const labels = c.stringMap();
  for (const k of Object.keys(labels)) {
    if (!LABEL_NAME.test(k)) throw c.error(`"${k}" is not a valid label name`);
    if (RESERVED.has(k)) throw c.error(`label "${k}" is set by the rule itself; use the rule's "severity" key instead`);
  }
  return labels;
}

/**
 * Reads a rules file:
 *   labels: { cluster: prod }          # added to every alert
 *   rules:
 *     SwarmServiceDegraded: { for: 30s, severity: critical, min_ratio: 0.5, labels: { team: web } }
 *     SwarmNodeUnavailable: { enabled: false }
 * Every mistake throws SW_ERR_CONFIG_INVALID naming file:line and the key.
 */
export function parseRules(root: YamlCursor): { rules: RuleSet; commonLabels: LabelSet } {
  const rules = defaultRuleSet();
  const top = root.fields(['labels', 'rules']);
  const commonLabels = readLabels(top.labels!);
  for (const [name, c] of top.rules!.entries()) {
    const settings = rules.get(name);
    if (!settings) throw c.error(`unknown rule "${name}"; built-in rules: ${[...ruleByName.keys()].join(', ')}`);
    const def = settings.definition;
    const f = c.fields(['enabled', 'for', 'severity', 'labels', ...Object.keys(def.params)]);
    settings.enabled = f.enabled!.bool(true);
    settings.forMs = f.for!.duration(def.forMs);
    const sev = f.severity!.string(def.severity);
    if (!SEVERITIES.includes(sev as Severity)) throw f.severity!.error(`"${sev}" is not a severity; accepted: ${SEVERITIES.join(', ')}`);
    settings.severity = sev as Severity;
    settings.labels = readLabels(f.labels!);
    for (const [p, spec] of Object.entries(def.params)) {
      const pc = f[p]!;
      settings.params[p] = spec.kind === 'duration' ? pc.duration(spec.default, spec.min)
        : spec.kind === 'int' ? pc.number(spec.default, spec.min, undefined, true)
        : pc.number(spec.default, spec.min);
    }
  }
  return { rules, commonLabels };
}

export function loadRulesFile(file: string | undefined): { rules: RuleSet; commonLabels: LabelSet } {
  if (!file) return { rules: defaultRuleSet(), commonLabels: {} };
  return parseRules(YamlCursor.load(file));
}
