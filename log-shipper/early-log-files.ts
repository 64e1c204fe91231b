import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RawContainerConfigFile } from '../core/docker/types.js';
import { containerFromConfigFile, swarmLabelsOf } from '../core/state/convert.js';
import type { ContainerRecord } from '../core/state/types.js';

/** What is held for one container: its json-file log and its config.v2.json, both opened at its start event. */
interface HeldFiles {
  logFd: number;
  configFd?: number;
  /** The start event's attributes: the container's labels plus `name` and `image`. */
  attributes: Record<string, string>;
  heldAt: number;
}

/** Event attributes that are not labels (the engine adds them to every container event). */
const NOT_LABELS = new Set(['name', 'image', 'exitCode', 'signal', 'execDuration']);

/**
 * Descriptors of the log and config files of containers that started before the shipper had a reader on them
 * (read-mode file). A container run with `--rm` is removed with its log the moment it exits, and in a burst of
 * starts the engine answers the inspect that makes it known seconds late: by then the container may be gone, its
 * log with it. Opened on the start event, the files outlive their unlinking: the reader reads the log to its end,
 * and a container the state model never got is described from its config.v2.json (everything the inspect would
 * have said about it but the host config) or, failing that, from the event.
 */
export class EarlyLogFiles {
  private readonly held = new Map<string, HeldFiles>();

  /** `maxHeld` bounds the descriptors (two each); `maxAgeMs` is how long unused ones are kept (expire()). */
  constructor(private readonly maxHeld = 256, private readonly maxAgeMs = 60_000) {}

  get size(): number {
    return this.held.size;
  }

  has(id: string): boolean {
    return this.held.has(id);
  }

  /** The containers whose files are held. */
  ids(): string[] {
    return [...this.held.keys()];
  }

  /**
   * Opens the container's files in `containersDir` (`<data-root>/containers`); false when its log is not there (another
   * log driver, or the container is already gone) or too many are held.
   */
  hold(containersDir: string, id: string, attributes: Record<string, string>): boolean {
    const h = this.held.get(id);
    if (h) {
      // Held when the log appeared (ContainersDirWatch), before the start event brought the labels, name and image.
      if (Object.keys(h.attributes).length === 0) h.attributes = attributes;
      return true;
    }
    if (this.held.size >= this.maxHeld) return false;
    const dir = path.join(containersDir, id);
    let logFd: number;
    try {
      logFd = fs.openSync(path.join(dir, `${id}-json.log`), 'r');
    } catch {
      return false;
    }
    let configFd: number | undefined;
    try {
      configFd = fs.openSync(path.join(dir, 'config.v2.json'), 'r');
    } catch {
      // Described from the event's attributes if it is needed.
    }
    this.held.set(id, { logFd, configFd, attributes, heldAt: Date.now() });
    return true;
  }

  /** Hands the log's descriptor over (the caller closes it) and closes the rest; undefined when none is held. */
  takeLog(id: string): number | undefined {
    const h = this.held.get(id);
    if (!h) return undefined;
    this.held.delete(id);
    if (h.configFd !== undefined) fs.closeSync(h.configFd);
    return h.logFd;
  }

  /**
   * The record of a container removed before the state model got one: from its config.v2.json as the engine last
   * wrote it before we opened it, else from the start event's name, image and labels (no command, image id or
   * creation time then). Exited, since it is gone.
   */
  recordOf(id: string): ContainerRecord | undefined {
    const h = this.held.get(id);
    if (!h) return undefined;
    const fromFile = h.configFd === undefined ? undefined : readConfigFile(h.configFd);
    const record = fromFile ?? recordFromAttributes(id, h.attributes);
    return { ...record, state: 'exited', pid: 0, logDriver: 'json-file' };
  }

  release(id: string): void {
    const h = this.held.get(id);
    if (!h) return;
    this.held.delete(id);
    fs.closeSync(h.logFd);
    if (h.configFd !== undefined) fs.closeSync(h.configFd);
  }

  /** Closes what no reader took within maxAgeMs (a container whose reader read its log by the path). */
  expire(now = Date.now()): void {
    for (const [id, h] of this.held) if (now - h.heldAt > this.maxAgeMs) this.release(id);
  }

  closeAll(): void {
    for (const id of [...this.held.keys()]) this.release(id);
  }
}

function readConfigFile(fd: number): ContainerRecord | undefined {
  try {
    const raw = JSON.parse(fs.readFileSync(fd, 'utf8')) as RawContainerConfigFile;
    if (typeof raw.ID !== 'string' || !raw.Config || !raw.State) return undefined;
    return containerFromConfigFile(raw, 'json-file');
  } catch {
    // Being rewritten when opened, or from an engine that writes another layout: the event's attributes will do.
    return undefined;
  }
}

/** A container's record from a container event's attributes (its labels, `name`, `image`). */
export function recordFromAttributes(id: string, attributes: Record<string, string>): ContainerRecord {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(attributes)) if (!NOT_LABELS.has(k)) labels[k] = v;
  return {
    id, name: attributes.name ?? id.slice(0, 12), image: attributes.image ?? '', imageId: '', command: '',
    createdAt: 0, createdIso: '', state: 'exited', pid: 0, tty: false, labels, env: [], health: 'none',
    oomKilled: false, exitCode: Number(attributes.exitCode ?? 0) || 0, restartCount: 0, cgroupParent: '',
    logDriver: 'json-file', autoRemove: false, swarm: swarmLabelsOf(labels),
  };
}
