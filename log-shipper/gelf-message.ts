import type { ContainerRecord } from '../core/state/types.js';
import { cutUtf8 } from './assembler.js';
import type { StreamName } from './frames.js';
import type { MessageArena } from './message-arena.js';
import { formatUnixNano, writeUnixNano, type EngineTime } from './timestamp.js';

/** What a message needs to know besides the container: decided once per shipper. */
export interface MessageContext {
  /** GELF `host`: the node's host name, as Docker's gelf driver sends (os.Hostname of the daemon host). */
  host: string;
  nodeId: string;
  nodeHostname: string;
  tagTemplate: string;
  labels: readonly string[];
  labelsRegex?: RegExp;
  env: readonly string[];
  envRegex?: RegExp;
}

export interface MessageBody {
  /** The line (or the first line of a multiline record). */
  shortMessage: string;
  /** The whole record when it spans several lines. */
  fullMessage?: string;
  time: EngineTime;
  /** 6 for stdout, 3 for stderr, as the gelf driver. */
  level: number;
  /** Original size in bytes when the record was cut to shipper.max-message-size. */
  truncatedFromBytes?: number;
}

const validKey = /^[\w.-]*$/;

/** Graylog accepts `^[\w\.\-]*$` and drops `_id`; other characters become `_`. */
export function fieldName(key: string): string {
  let name = key.startsWith('_') ? key : `_${key}`;
  if (!validKey.test(name)) name = name.replace(/[^\w.-]/g, '_');
  return name === '_id' ? '_id_' : name;
}

/** Docker's tag log-opt templates (daemon/logger/loggerutils/log_tag.go), plus Swarm names. */
export function renderTag(template: string, c: ContainerRecord, daemonName: string): string {
  const imageFullId = c.imageId;
  const values: Record<string, string> = {
    ID: c.id.slice(0, 12),
    FullID: c.id,
    Name: c.name,
    ImageID: imageFullId.replace(/^sha256:/, '').slice(0, 12),
    ImageFullID: imageFullId,
    ImageName: c.image,
    DaemonName: daemonName,
    ServiceName: c.swarm.serviceName ?? '',
    TaskName: c.swarm.taskName ?? '',
    StackName: c.swarm.stackNamespace ?? '',
  };
  return template.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (whole, key: string) => values[key] ?? whole);
}

/** Every field that is the same for all lines of a container, in the gelf driver's names, plus Swarm fields. */
export function containerFields(c: ContainerRecord, ctx: MessageContext): Record<string, string> {
  const fields: Record<string, string> = {
    _container_id: c.id,
    _container_name: c.name,
    _image_id: c.imageId,
    _image_name: c.image,
    _command: c.command,
    _tag: renderTag(ctx.tagTemplate, c, 'docker'),
    _created: c.createdIso,
  };
  const swarm: [string, string | undefined][] = [
    ['_service_name', c.swarm.serviceName], ['_service_id', c.swarm.serviceId],
    ['_task_name', c.swarm.taskName], ['_task_id', c.swarm.taskId],
    ['_stack_name', c.swarm.stackNamespace],
    ['_node_id', c.swarm.nodeId || ctx.nodeId || undefined],
    ['_node_hostname', c.swarm.serviceName || ctx.nodeId ? ctx.nodeHostname : undefined],
  ];
  for (const [k, v] of swarm) if (v) fields[k] = v;
  for (const [k, v] of Object.entries(c.labels)) {
    if (ctx.labels.includes(k) || ctx.labelsRegex?.test(k)) fields[fieldName(k)] = v;
  }
  if (ctx.env.length > 0 || ctx.envRegex) {
    for (const kv of c.env) {
      const eq = kv.indexOf('=');
      const k = eq < 0 ? kv : kv.slice(0, eq);
      if (ctx.env.includes(k) || ctx.envRegex?.test(k)) fields[fieldName(k)] = eq < 0 ? '' : kv.slice(eq + 1);
    }
  }
  return fields;
}

/** GELF level of a line: 3 (error) from stderr, 6 (info) from stdout, as Docker's gelf driver sends. */
export function levelOf(stream: StreamName): number {
  return stream === 'stderr' ? 3 : 6;
}

let nextTailId = 1;
const TIMESTAMP_BYTES = Buffer.from('","timestamp":');
const LEVEL_BYTES = Buffer.from(',"level":');

/**
 * Serializes GELF 1.1 messages for one container. The container's fields are serialized once; a line costs one
 * JSON.stringify of its text (encode) or a copy of its already escaped bytes (writeEscaped). The timestamp is
 * written as `seconds.nanoseconds` so no digit is lost to a float.
 */
export class GelfEncoder {
  private readonly prefix: string;
  private readonly suffix: string;
  /**
   * Every message ends with the container's fields: this many UTF-8 bytes, the same for every message of this
   * encoder, whose id (unique in the process) lets the UDP compressor encode them once (ShortDeflate tails).
   */
  readonly tailBytes: number;
  readonly tailId = nextTailId++;
  /** prefix and suffix as UTF-8, for writeEscaped; the prefix with the opening quote of short_message. */
  private readonly prefixBytes: Buffer;
  private readonly suffixBytes: Buffer;

  constructor(readonly fields: Record<string, string>, host: string) {
    this.prefix = `{"version":"1.1","host":${JSON.stringify(host)},"short_message":`;
    this.suffix = Object.entries(fields).map(([k, v]) => `,${JSON.stringify(k)}:${JSON.stringify(v)}`).join('') + '}';
    this.tailBytes = Buffer.byteLength(this.suffix);
    this.prefixBytes = Buffer.from(this.prefix + '"');
    this.suffixBytes = Buffer.from(this.suffix);
  }

  /**
   * Writes a one-line message whose text is `src[start, end)`, already JSON string content (a json-file log
   * text as the engine escaped it, without its final newline), into the arena at `arena.used`, followed by a
   * null byte (GELF's stream framing, so that stream transports send runs of messages straight from the arena);
   * returns its size in bytes without the null (the caller moves `arena.used` past the null). The same message as encode() but for the escapes' spelling
   * (`\u003c` where encode writes `<`), which any JSON decoder reads as the same text.
   */
  writeEscaped(arena: MessageArena, src: Buffer, start: number, end: number, time: EngineTime, level: number): number {
    const p = this.prefixBytes;
    const t = this.suffixBytes;
    // `","timestamp":` 14, seconds ≤ 16 + "." + 9 digits, `,"level":` 9 + 1 digit.
    arena.reserve(p.length + (end - start) + 64 + t.length + 1);
    const buf = arena.buf;
    const at = arena.used;
    let off = at + p.copy(buf, at);
    off += src.copy(buf, off, start, end);
    for (let i = 0; i < TIMESTAMP_BYTES.length; i++) buf[off++] = TIMESTAMP_BYTES[i]!;
    off = writeUnixNano(buf, off, time);
    for (let i = 0; i < LEVEL_BYTES.length; i++) buf[off++] = LEVEL_BYTES[i]!;
    buf[off++] = 48 + level;
    off += t.copy(buf, off);
    buf[off] = 0;
    return off - at;
  }

  encode(m: MessageBody): string {
    let s = this.prefix + JSON.stringify(m.shortMessage);
    if (m.fullMessage !== undefined) s += ',"full_message":' + JSON.stringify(m.fullMessage);
    s += `,"timestamp":${formatUnixNano(m.time)},"level":${m.level}`;
    if (m.truncatedFromBytes !== undefined) s += `,"_swarmwatch_truncated_bytes":${m.truncatedFromBytes}`;
    return s + this.suffix;
  }
}

const SHORT_KEY = ',"short_message":';
const TIMESTAMP_KEY = ',"timestamp":';
const LEVEL_KEY = ',"level":';

/**
 * OutMessage.shrink of a message written by writeEscaped: its short_message cut to `maxTextBytes` (UTF-8 of the
 * decoded text) and marked like encode() marks a cut. The keys are found in the text: inside a JSON string every
 * quote is escaped, so `,"timestamp":` can only be the key after short_message.
 */
export function shrinkEscapedMessage(json: string, maxTextBytes: number): string {
  const vs = json.indexOf(SHORT_KEY) + SHORT_KEY.length;
  const ve = json.indexOf(TIMESTAMP_KEY, vs);
  const lv = json.indexOf(LEVEL_KEY, ve) + LEVEL_KEY.length + 1;
  const text = Buffer.from(JSON.parse(json.slice(vs, ve)) as string);
  if (text.length <= maxTextBytes) return json;
  const cut = JSON.stringify(cutUtf8(text, maxTextBytes).toString('utf8') || ' ');
  return json.slice(0, vs) + cut + json.slice(ve, lv) + `,"_swarmwatch_truncated_bytes":${text.length}` + json.slice(lv);
}
