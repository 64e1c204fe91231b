#!/usr/bin/env node
import { helpFor, loadConfig } from '../core/config/load.js';
import { coreOptions } from '../core/options.js';
import { isSwarmwatchError } from '../core/errors.js';
import type { ComponentModule } from '../core/runtime/component.js';
import { runAgent } from './agent.js';
import { componentEntries, loadAllModules } from './components.js';

const EXIT_USAGE = 2;

async function usage(): Promise<string> {
  const componentModules = await loadAllModules();
  const lines = [
    'usage: swarmwatch <command> [options]',
    '',
    'commands:',
    '  agent          every component of a node in one process (' + componentModules.map((m) => m.name).join(', ') + ')',
    ...componentModules.map((m) => `  ${m.name.padEnd(14)} ${m.summary}`),
    '',
    'Run `swarmwatch <command> --help` for its options. Options also come from SWARMWATCH_* environment',
    'variables and from a YAML file given by --config or SWARMWATCH_CONFIG.',
  ];
  return lines.join('\n');
}

async function modulesFor(command: string): Promise<ComponentModule[] | undefined> {
  if (command === 'agent') return loadAllModules();
  const entry = componentEntries.find((x) => x.name === command);
  return entry ? [await entry.load()] : undefined;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write((await usage()) + '\n');
    return command ? 0 : EXIT_USAGE;
  }
  const modules = await modulesFor(command);
  if (!modules) {
    process.stderr.write(`swarmwatch: unknown command "${command}"; accepted commands: agent, ${componentEntries.map((m) => m.name).join(', ')}\n`);
    return EXIT_USAGE;
  }
  const specs = [...coreOptions, ...modules.flatMap((m) => m.options)];
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`usage: swarmwatch ${command} [options]\n\noptions:\n${helpFor(specs)}\n  --config <path>\n      YAML file with the same keys (env: SWARMWATCH_CONFIG)\n`);
    return 0;
  }
  // Handlers go in before anything starts, so a SIGTERM during start-up still drains instead of killing.
  let signalled: NodeJS.Signals | undefined;
  let onStopRequest: (() => void) | undefined;
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (++signals > 1) { process.stderr.write(`swarmwatch: second ${sig}, exiting now\n`); process.exit(130); }
    process.stderr.write(`swarmwatch: ${sig} received, draining\n`);
    signalled = sig;
    onStopRequest?.();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  let agent;
  try {
    const config = loadConfig({ specs, argv: rest });
    if (config.positional.length > 0) {
      process.stderr.write(`swarmwatch: unexpected argument "${config.positional[0]}"; options take the form --key=value (see --help)\n`);
      return EXIT_USAGE;
    }
    agent = await runAgent(config, modules, command);
  } catch (err) {
    if (isSwarmwatchError(err) && (err.code.startsWith('SW_ERR_CONFIG') || err.code === 'SW_ERR_HTTP_LISTEN')) {
      process.stderr.write(`swarmwatch: ${err.message}\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
  const running = agent;
  return new Promise<number>((resolve) => {
    onStopRequest = () => void running.stop().then(() => resolve(0));
    if (signalled) onStopRequest();
  });
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => {
    process.stderr.write(`swarmwatch: fatal: ${isSwarmwatchError(err) ? `${err.code}: ` : ''}${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  },
);
