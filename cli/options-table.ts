import { envNameOf, type OptionSpec } from '../core/config/spec.js';
import { coreOptions } from '../core/options.js';
import { componentModules } from './components.js';

/** Every option of every component, in README order. */
export function allOptions(): OptionSpec[] {
  const seen = new Set<string>();
  return [...coreOptions, ...componentModules.flatMap((m) => m.options)].filter((o) => (seen.has(o.key) ? false : (seen.add(o.key), true)));
}

export function optionsMarkdown(): string {
  const rows = allOptions().map((o) => {
    const def = o.default === undefined || o.default === '' || (Array.isArray(o.default) && o.default.length === 0) ? '' : `\`${Array.isArray(o.default) ? o.default.join(',') : o.default}\``;
    const type = o.values ? `${o.type}: ${o.values.join(' \\| ')}` : o.type;
    const env = `\`${envNameOf(o.key)}\`${o.secret ? ` / \`${envNameOf(o.key)}_FILE\`` : ''}`;
    return `| \`${o.key}\` | ${env} | ${type} | ${def} | ${o.description.replace(/\|/g, '\\|')} |`;
  });
  return ['| option (YAML key, `--flag`) | environment | type | default | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}

if (process.argv[1] && /options-table\.js$/.test(process.argv[1])) {
  process.stdout.write(optionsMarkdown() + '\n');
}
