import { envNameOf, type OptionSpec } from '../core/config/spec.js';
import { coreOptions } from '../core/options.js';
import { loadAllModules } from './components.js';

/** Every option of every component, in README order. */
export async function allOptions(): Promise<OptionSpec[]> {
  const seen = new Set<string>();
  const modules = await loadAllModules();
  return [...coreOptions, ...modules.flatMap((m) => m.options)].filter((o) => (seen.has(o.key) ? false : (seen.add(o.key), true)));
}

export async function optionsMarkdown(): Promise<string> {
  const rows = (await allOptions()).map((o) => {
    const def = o.default === undefined || o.default === '' || (Array.isArray(o.default) && o.default.length === 0) ? '' : `\`${Array.isArray(o.default) ? o.default.join(',') : o.default}\``;
    const type = o.values ? `${o.type}: ${o.values.join(' \\| ')}` : o.type;
    const env = `\`${envNameOf(o.key)}\`${o.secret ? ` / \`${envNameOf(o.key)}_FILE\`` : ''}`;
    return `| \`${o.key}\` | ${env} | ${type} | ${def} | ${o.description.replace(/\|/g, '\\|')} |`;
  });
  return ['| option (YAML key, `--flag`) | environment | type | default | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}

if (process.argv[1] && /options-table\.js$/.test(process.argv[1])) {
  process.stdout.write((await optionsMarkdown()) + '\n');
}
