import type { Json, JsonObject } from '../spec/types.js';
import { canonicalJson } from './canonical.js';
import type { JournalEntry } from './chain.js';
import type { Signature } from './signing.js';

export interface ModelUse {
  slot: string;
  driver: string;
  provider: string;
  model: string;
  calls: number;
  inputTokens: number;
  outputTokens: number;
  /** USD, where the binding gave the model a price. */
  cost: number;
  latencyMs: number;
  /** Of the calls, those made for MCP servers' sampling requests, counted in the totals. */
  forServers?: number;
  /** Replies that differed from the slot's pin, which was set to warn; one line each. */
  mismatches?: string[];
}

export interface ToolUse {
  name: string;
  calls: number;
  /** Calls whose tool reported failure. */
  errors: number;
  /** Calls the machine did not make: denied, or with arguments that were unusable. */
  refused: number;
  denied: number;
  ms: number;
}

/** A server's resource the run read, or a prompt it fetched, by its resource name. */
export interface ServedUse {
  /** `resource:<ns>/<uri>` or `prompt:<ns>/<name>`. */
  resource: string;
  reads: number;
  /** Reads the monitor or a person denied. */
  refused: number;
  /** The label the last read carried. */
  label: Json | null;
}

/** The post-run report, derived from the journal alone so that anyone can recompute it. */
export interface Manifest {
  mvmManifest: 1;
  runId: string;
  image: { name: string; digest: string };
  config: { path: string | null; digest: string };
  /** The tool lock the run was held to, when there was one. */
  lock: { path: string; digest: string } | null;
  status: string;
  startedAt: string;
  endedAt: string | null;
  durationMs: number | null;
  models: ModelUse[];
  tools: ToolUse[];
  /** Resources read and prompts fetched from servers. */
  served: ServedUse[];
  /** Tool namespaces loaded, with the digest of each definition pinned. */
  toolsets: Array<{ ns: string; provider: Json; tools: Array<{ name: string; digest: string }> }>;
  decisions: {
    allow: number;
    deny: number;
    confirm: number;
    list: Array<{ at: string | null; resource: string; verdict: string; rule: string | null }>;
  };
  budgets: { limits: Json; used: Json };
  /** What a waiting run waits on. */
  pending: Json[];
  /** Confirmations people gave, and questions they answered. */
  answers: Array<{ id: string; verdict?: string }>;
  output: Json;
  error: Json;
  journal: { entries: number; head: string };
  /** The host's signature over the digest of every other field, when it has a key. */
  signature?: Signature;
}

const num = (v: Json | undefined) => (typeof v === 'number' ? v : 0);

/** Entries that end a stretch of a run: its end, or where it waited or was interrupted. */
const ENDS = new Set(['run.end', 'run.suspend', 'run.interrupt']);

export function buildManifest(runId: string, entries: readonly JournalEntry[]): Manifest {
  const start = entries.find((e) => e.type === 'run.start');
  const end = entries.findLast((e) => ENDS.has(e.type));
  const sd = (start?.data ?? {}) as JsonObject;
  const ed = (end?.data ?? {}) as JsonObject;

  const models = new Map<string, ModelUse>();
  const tools = new Map<string, ToolUse>();
  const toolsets: Manifest['toolsets'] = [];
  const decisions: Manifest['decisions'] = { allow: 0, deny: 0, confirm: 0, list: [] };
  const answers: Manifest['answers'] = [];
  const served = new Map<string, ServedUse>();
  const serve = (resource: string) => {
    let u = served.get(resource);
    if (!u) {
      u = { resource, reads: 0, refused: 0, label: null };
      served.set(resource, u);
    }
    return u;
  };
  const model = (slot: string, described: JsonObject = {}) => {
    let m = models.get(slot);
    if (!m) {
      const text = (v: Json | undefined) => (typeof v === 'string' ? v : '');
      m = {
        slot,
        driver: text(described.driver),
        provider: text(described.provider),
        model: text(described.model),
        calls: 0,
        inputTokens: 0,
        outputTokens: 0,
        cost: 0,
        latencyMs: 0,
      };
      models.set(slot, m);
    }
    return m;
  };
  const tool = (name: string) => {
    let t = tools.get(name);
    if (!t) {
      t = { name, calls: 0, errors: 0, refused: 0, denied: 0, ms: 0 };
      tools.set(name, t);
    }
    return t;
  };

  for (const e of entries) {
    const d = e.data as JsonObject;
    switch (e.type) {
      case 'model.load': {
        // A server's sampling calls may have used the slot before the image loaded it.
        const m = model(d.slot as string);
        m.driver = d.driver as string;
        m.provider = d.provider as string;
        m.model = d.model as string;
        break;
      }
      case 'server.sample': {
        // A sampling request refused for want of budget made no call.
        if (d.usage === undefined) break;
        const m = models.get(d.slot as string) ?? model(d.slot as string, d);
        const usage = (d.usage ?? {}) as JsonObject;
        m.calls++;
        m.inputTokens += num(usage.inputTokens);
        m.outputTokens += num(usage.outputTokens);
        m.cost += num(usage.cost);
        m.latencyMs += num(d.ms);
        m.forServers = (m.forServers ?? 0) + 1;
        if (typeof d.mismatch === 'string') m.mismatches = [...(m.mismatches ?? []), d.mismatch];
        break;
      }
      case 'model.reply': {
        const m = models.get(d.slot as string);
        if (!m) break;
        const usage = ((d.reply as JsonObject).usage ?? {}) as JsonObject;
        m.calls++;
        m.inputTokens += num(usage.inputTokens);
        m.outputTokens += num(usage.outputTokens);
        m.cost += num(usage.cost);
        m.latencyMs += num(d.ms);
        const mismatch = (d.reply as JsonObject).mismatch;
        if (typeof mismatch === 'string') m.mismatches = [...(m.mismatches ?? []), mismatch];
        break;
      }
      case 'tool.load':
        toolsets.push({
          ns: d.ns as string,
          provider: d.server ?? null,
          tools: ((d.tools ?? []) as JsonObject[]).map((t) => ({
            name: t.name as string,
            digest: t.digest as string,
          })),
        });
        break;
      case 'tool.result': {
        const t = tool(d.name as string);
        t.calls++;
        if (d.isError) t.errors++;
        t.ms += num(d.ms);
        break;
      }
      case 'tool.error': {
        const t = tool(d.name as string);
        t.calls++;
        t.errors++;
        break;
      }
      case 'model.error': {
        const m = models.get(d.slot as string);
        if (m) m.calls++;
        break;
      }
      case 'resource.result':
      case 'prompt.result': {
        if (d.op === 'list') break;
        const name =
          e.type === 'resource.result' ? `resource:${d.ns}/${d.uri}` : `prompt:${d.ns}/${d.name}`;
        const u = serve(name);
        u.reads++;
        u.label = d.label ?? null;
        break;
      }
      case 'resource.refused':
        serve(`resource:${d.ns}/${d.uri}`).refused++;
        break;
      case 'confirm.answer':
        answers.push({ id: d.id as string, verdict: d.verdict as string });
        break;
      case 'user.answer':
        answers.push({ id: d.id as string });
        break;
      case 'tool.refused': {
        const t = tool(d.name as string);
        t.refused++;
        if (d.denied) t.denied++;
        break;
      }
      case 'decision':
        if (d.verdict === 'allow') decisions.allow++;
        else if (d.verdict === 'deny') decisions.deny++;
        else decisions.confirm++;
        decisions.list.push({
          at: e.at ?? null,
          resource: d.resource as string,
          verdict: d.verdict as string,
          rule: (d.rule as string | null) ?? null,
        });
        break;
      default:
        break;
    }
  }

  const round = (n: number) => Math.round(n * 1000) / 1000;
  for (const m of models.values()) {
    m.latencyMs = round(m.latencyMs);
    m.cost = Math.round(m.cost * 1e6) / 1e6;
  }
  for (const t of tools.values()) t.ms = round(t.ms);
  const startedAt = start?.ts ?? '';
  const endedAt = end?.ts ?? null;
  const last = entries[entries.length - 1];
  return {
    mvmManifest: 1,
    runId,
    image: (sd.image ?? { name: '', digest: '' }) as Manifest['image'],
    config: (sd.config ?? { path: null, digest: '' }) as Manifest['config'],
    lock: (sd.lock ?? null) as Manifest['lock'],
    status:
      end?.type === 'run.suspend'
        ? 'waiting'
        : end?.type === 'run.interrupt'
          ? 'interrupted'
          : ((ed.status as string | undefined) ?? 'running'),
    startedAt,
    endedAt: end?.type === 'run.end' ? endedAt : null,
    durationMs: endedAt ? Date.parse(endedAt) - Date.parse(startedAt) : null,
    models: [...models.values()],
    tools: [...tools.values()].sort((a, b) => a.name.localeCompare(b.name)),
    served: [...served.values()],
    toolsets,
    decisions,
    budgets: { limits: sd.budgets ?? null, used: ed.used ?? null },
    pending: end?.type === 'run.suspend' ? ((ed.pending ?? []) as Json[]) : [],
    answers,
    output: ed.output ?? null,
    error: ed.error ?? null,
    journal: { entries: entries.length, head: last?.hash ?? '' },
  };
}

/** The entries a manifest field is drawn from, for a message that names where to look. */
const FROM_START = new Set(['image', 'config', 'lock', 'startedAt']);
const FROM_END = new Set(['status', 'endedAt', 'durationMs', 'pending', 'output', 'error']);

/**
 * Holds a manifest to the journal it summarises: rebuilt from the entries up to the head it
 * names, each field must be the same. A field the rebuilt one has and the manifest lacks is
 * passed over (a manifest written before the field existed); one the manifest has that
 * differs, or that the journal does not give, is named, with the entry it comes from.
 * A manifest whose head is not in the journal is left to the chain's own check.
 */
export function checkManifest(
  manifest: Manifest,
  entries: readonly JournalEntry[],
): Array<{ seq: number; code: 'manifest_mismatch'; message: string }> {
  const end = entries.findIndex((e) => e.hash === manifest.journal?.head);
  if (end < 0) return [];
  const covered = entries.slice(0, end + 1);
  const rebuilt = buildManifest(manifest.runId, covered) as unknown as JsonObject;
  const start = covered.find((e) => e.type === 'run.start');
  const last = covered.findLast((e) => ENDS.has(e.type));
  const problems: Array<{ seq: number; code: 'manifest_mismatch'; message: string }> = [];
  const { signature: _signature, ...given } = manifest as unknown as JsonObject;
  for (const [key, value] of Object.entries(given)) {
    if (!Object.hasOwn(rebuilt, key)) {
      problems.push({
        seq: covered.length,
        code: 'manifest_mismatch',
        message: `manifest: '${key}' is not a field the journal gives`,
      });
      continue;
    }
    if (canonicalJson(value) === canonicalJson(rebuilt[key]!)) continue;
    const from = FROM_START.has(key) ? start : FROM_END.has(key) ? last : undefined;
    const where = from ? `entry ${from.seq} (${from.type})` : 'the journal';
    problems.push({
      seq: from?.seq ?? covered.length,
      code: 'manifest_mismatch',
      message: `manifest: '${key}' differs from what ${where} records`,
    });
  }
  return problems;
}
