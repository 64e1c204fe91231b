/**
 * Runs the real `swarmwatch` CLI (dist/cli/main.js) as a child process for integration tests, and reads its
 * /metrics. Tests use the built artefact on purpose: it is what `npm start` and the image run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseExposition, type Sample } from './prom-text.js';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface AgentProcess {
  url: string;
  child: ChildProcess;
  /** Everything the agent wrote to stderr so far. */
  stderr(): string;
  scrapeText(): Promise<string>;
  scrape(): Promise<Sample[]>;
  /** SIGTERM and wait; resolves to the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startAgent(command: string, opts: { dockerHost: string; args?: string[]; env?: Record<string, string>; /** e.g. ['setpriv', '--reuid=65534', …] to run as another user */ prefix?: string[] }): Promise<AgentProcess> {
  const port = await freePort();
  const [exe, ...pre] = opts.prefix ?? [];
  const child = spawn(exe ?? process.execPath, [...(exe ? [...pre, process.execPath] : []), CLI, command, `--http.listen=127.0.0.1:${port}`, ...(opts.args ?? [])], {
    env: { ...process.env, DOCKER_HOST: opts.dockerHost, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  child.stdout!.resume();
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`agent exited with ${child.exitCode} before serving: ${err}`);
    try {
      if ((await fetch(`${url}/-/healthy`)).ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`agent did not serve ${url} within 20 s: ${err}`); }
    await new Promise((r) => setTimeout(r, 100));
  }
  const scrapeText = async () => {
    const res = await fetch(`${url}/metrics`);
    if (!res.ok) throw new Error(`scrape answered ${res.status}`);
    return res.text();
  };
  return {
    url, child,
    stderr: () => err,
    scrapeText,
    scrape: async () => parseExposition(await scrapeText()),
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs the CLI to completion (for --help and bad-option checks). */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}
