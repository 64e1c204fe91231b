import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../core/config/load.js';
import { envNameOf } from '../core/config/spec.js';
import { ErrorCodes, SwarmwatchError } from '../core/errors.js';

export type Scheme = 'udp' | 'tcp' | 'tls';
export type Compression = 'gzip' | 'zlib' | 'none';

export interface Destination {
  scheme: Scheme;
  host: string;
  port: number;
  /** As configured, for log lines. */
  url: string;
}

export interface TlsSettings {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  verify: boolean;
  servername?: string;
}

/** Validated shipper settings; built once from the Config, every failure names its option. */
export interface ShipperSettings {
  destination: Destination;
  stateDir: string;
  hostname?: string;
  maxMessageBytes: number;
  compression: Compression;
  compressionLevel: number;
  udpChunkSize: number;
  udpSendThread: boolean;
  tls: TlsSettings;
  reconnectMaxDelayMs: number;
  resolveIntervalMs: number;
  writeTimeoutMs: number;
  bufferBytes: number;
  batchBytes: number;
  batchWaitMs: number;
  /** Multiple of a container's default CPU weight the shipper gives its own container or cgroup at start (own-cpu-weight.ts); 0 or 1 leaves it. */
  cpuWeight: number;
  tagTemplate: string;
  labels: string[];
  labelsRegex?: RegExp;
  env: string[];
  envRegex?: RegExp;
  includeLabels: string[];
  excludeLabels: string[];
  includeNames?: RegExp;
  excludeNames?: RegExp;
  shipSelf: boolean;
  multilinePattern?: RegExp;
  multilineTimeoutMs: number;
  initialPosition: 'beginning' | 'end';
  cursorExpiryMs: number;
  /** How long a stop may spend delivering and keeping removed containers' logs before it writes the cursors and ends. */
  stopTimeoutMs: number;
  /** Removed containers whose deleted json-file logs are kept open to be read to the end (read-mode file). */
  removedFilesMax: number;
  readMode: 'api' | 'file';
  dockerRoot?: string;
}

function bad(key: string, detail: string, fix?: string): SwarmwatchError {
  return new SwarmwatchError(ErrorCodes.CONFIG_INVALID, `invalid value for option ${key} (${envNameOf(key)}): ${detail}`, { culprit: key, fix });
}

export function parseDestination(text: string, key = 'shipper.destination'): Destination {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(\[[^\]]+\]|[^:/\s]+):(\d+)\/?$/i.exec(text.trim());
  if (!m) throw bad(key, `"${text}" is not scheme://host:port`, 'use udp://host:12201, tcp://host:12201 or tls://host:12201');
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'udp' && scheme !== 'tcp' && scheme !== 'tls') {
    throw bad(key, `unknown scheme "${scheme}"`, 'accepted schemes: udp, tcp, tls');
  }
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad(key, `port ${m[3]} is out of range`, 'use a port between 1 and 65535');
  return { scheme, host: m[2]!.replace(/^\[|\]$/g, ''), port, url: text.trim() };
}

function regexOption(config: Config, key: string): RegExp | undefined {
  const text = config.optStr(key);
  if (!text) return undefined;
  try {
    return new RegExp(text);
  } catch (err) {
    throw bad(key, `"${text}" is not a valid regular expression: ${(err as Error).message}`);
  }
}

function readPem(config: Config, key: string): Buffer | undefined {
  const file = config.optStr(key);
  if (!file) return undefined;
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw bad(key, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'mount the file and check its permissions');
  }
}

/** The state dir must exist (created if missing) and accept a file: found now, not at the first cursor write. */
export function checkStateDir(dir: string, key = 'shipper.state-dir'): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    const probe = path.join(dir, `.probe-${process.pid}`);
    fs.writeFileSync(probe, 'x');
    fs.unlinkSync(probe);
  } catch (err) {
    throw bad(key, `state directory ${dir} is not writable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'mount a writable volume there or choose another directory');
  }
}

/** Returns undefined when no destination is configured (the shipper then stays idle). */
export function settingsFrom(config: Config): ShipperSettings | undefined {
  const dest = config.optStr('shipper.destination');
  if (!dest) return undefined;
  const destination = parseDestination(dest);
  const stateDir = path.resolve(config.str('shipper.state-dir'));
  const tls: TlsSettings = {
    ca: readPem(config, 'shipper.tls-ca'),
    cert: readPem(config, 'shipper.tls-cert'),
    key: readPem(config, 'shipper.tls-key'),
    verify: config.bool('shipper.tls-verify'),
    servername: config.optStr('shipper.tls-servername'),
  };
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw bad(tls.cert ? 'shipper.tls-key' : 'shipper.tls-cert', 'a client certificate needs both shipper.tls-cert and shipper.tls-key');
  }
  const settings: ShipperSettings = {
    destination,
    stateDir,
    hostname: config.optStr('shipper.hostname'),
    maxMessageBytes: config.int('shipper.max-message-size'),
    compression: config.str('shipper.compression') as Compression,
    compressionLevel: config.int('shipper.compression-level'),
    udpChunkSize: config.int('shipper.udp-chunk-size'),
    udpSendThread: config.bool('shipper.udp-send-thread'),
    tls,
    reconnectMaxDelayMs: config.duration('shipper.reconnect-max-delay'),
    resolveIntervalMs: config.duration('shipper.resolve-interval'),
    writeTimeoutMs: config.duration('shipper.write-timeout'),
    bufferBytes: config.int('shipper.buffer-size'),
    batchBytes: config.int('shipper.batch-size'),
    batchWaitMs: config.duration('shipper.batch-wait'),
    cpuWeight: config.int('shipper.cpu-weight'),
    tagTemplate: config.str('shipper.tag'),
    labels: config.list('shipper.labels'),
    labelsRegex: regexOption(config, 'shipper.labels-regex'),
    env: config.list('shipper.env'),
    envRegex: regexOption(config, 'shipper.env-regex'),
    includeLabels: config.list('shipper.include-labels'),
    excludeLabels: config.list('shipper.exclude-labels'),
    includeNames: regexOption(config, 'shipper.include-names'),
    excludeNames: regexOption(config, 'shipper.exclude-names'),
    shipSelf: config.bool('shipper.ship-self'),
    multilinePattern: regexOption(config, 'shipper.multiline-pattern'),
    multilineTimeoutMs: config.duration('shipper.multiline-timeout'),
    initialPosition: config.str('shipper.initial-position') as 'beginning' | 'end',
    cursorExpiryMs: config.duration('shipper.cursor-expiry'),
    stopTimeoutMs: config.duration('shipper.stop-timeout'),
    removedFilesMax: config.int('shipper.removed-files-max'),
    readMode: config.str('shipper.read-mode') as 'api' | 'file',
    dockerRoot: config.optStr('shipper.docker-root'),
  };
  checkStateDir(stateDir);
  return settings;
}
