import { join, joinAll, type Label, PUBLIC_TRUSTED } from '../labels/label.js';
import { type Value, value } from '../labels/value.js';
import type { Sink } from '../monitor/flow.js';
import type { Mode } from '../monitor/monitor.js';
import { errorFromJson, MvmError, PolicyError, ProviderError, TrapError } from '../spec/errors.js';
import { promptResource, serverResource, uriProblem } from '../spec/resources.js';
import type { InstructionOf, Json, JsonObject } from '../spec/types.js';
import type {
  Offering,
  PromptInfo,
  ResourceContent,
  ResourceInfo,
  ResourceTemplateInfo,
  ToolProvider,
} from '../tools/provider.js';
import { expandTemplate, matchesTemplate } from '../tools/uris.js';
import type { BudgetMeter } from './budget.js';
import type { MachineHost } from './effects.js';
import { type Frame, render } from './frame.js';
import type { ConfirmRequest } from './people.js';
import { callSignal, stopIfAborted } from './stop.js';
import type { Tape } from './tape.js';
import { historyOf } from './values.js';

/** What reading from servers needs of the machine's effects: its gate, its journal, its host. */
export interface ContentPort {
  host: MachineHost;
  tape: Tape;
  meter: BudgetMeter;
  signal?: AbortSignal;
  /** The namespace's provider, connected on first use. */
  provider(ns: string): Promise<ToolProvider>;
  /** The monitor's decision, journaled, with a person asked when a rule says so. */
  permitted(
    resource: string,
    at: string | undefined,
    context: Label,
    what: Omit<ConfirmRequest, 'id' | 'resource' | 'rule' | 'reason' | 'at'>,
    how: { mode?: Mode; sink?: Sink },
  ): Promise<{ ok: boolean; reason: string }>;
  sink(resource: string, consequential: boolean): Sink;
}

/** A resource read as `resource.read` leaves it. */
export interface ResourceReadValue {
  uri: string;
  ok: boolean;
  contents: ResourceContent[];
  /** The text contents joined, blobs summarised: what a model reads. */
  text: string;
  denied?: boolean;
}

type Listing = { resources: ResourceInfo[]; templates: ResourceTemplateInfo[] };

/** How many listed names an error message shows before it stops. */
const SHOWN = 12;

const round = (ms: number) => Math.round(ms * 1000) / 1000;

/**
 * Resources and prompts: what a namespace's server offers an image to read beside its tools.
 * Reading a resource and fetching a prompt are effects like a tool call: the monitor decides
 * on `resource:<ns>/<uri>` or `prompt:<ns>/<name>` and the decision is journaled, then the
 * request's intent, then its outcome in full. Re-executed, the outcome comes from the
 * journal and the server is not asked; a request cut off by a stop is made again, since
 * reading changes nothing.
 *
 * What comes back carries the namespace's label from the host configuration (untrusted
 * unless the operator vouches for it), never anything the server says of itself, with the
 * URI or prompt as its source.
 */
export class ServerContent {
  private readSeq = 0;
  private promptSeq = 0;
  /** Each namespace's lists, fetched at most once a run, when a check needs them. */
  private readonly listings = new Map<string, Promise<Listing>>();
  private readonly promptLists = new Map<string, Promise<PromptInfo[]>>();

  constructor(private readonly port: ContentPort) {}

  listResources(ns: string, at?: string): Promise<Value> {
    return this.list('resource', ns, at);
  }

  listPrompts(ns: string, at?: string): Promise<Value> {
    return this.list('prompt', ns, at);
  }

  /** What a server offers of a kind, labelled as the namespace's resources or prompts are. */
  private async list(kind: 'resource' | 'prompt', ns: string, at?: string): Promise<Value> {
    const source = `${kind}:${ns}`;
    const label = this.labelled(ns, source);
    const result = await this.served(
      kind,
      { ns, op: 'list' },
      at,
      async () => {
        const provider = await this.offering(ns, `${kind}s`, at);
        const listed = kind === 'resource' ? provider.listResources!() : provider.listPrompts!();
        return (await listed) as unknown as Json;
      },
      { label, source },
    );
    return value(result, label);
  }

  async readResource(ins: InstructionOf<'resource.read'>, frame: Frame): Promise<Value> {
    const { ns, at } = ins;
    const target = this.target(ins, frame);
    const { uri, label } = target;
    const id = `r${++this.readSeq}`;
    const resource = serverResource(ns, uri);
    const what = { kind: 'resource' as const, tool: `${ns}/${uri}`, callId: id, args: target.args };
    const sink = this.port.sink(resource, false);
    const permit = await this.port.permitted(resource, at, label, what, { mode: 'read', sink });
    if (!permit.ok) {
      this.port.tape.write('resource.refused', { ns, id, uri, reason: permit.reason }, at);
      const refused: ResourceReadValue = {
        uri,
        ok: false,
        contents: [],
        text: permit.reason,
        denied: true,
      };
      return value(refused as unknown as Json, label);
    }

    const source = `${resource}#${id}`;
    const resultLabel = join(label, this.labelled(ns, source));
    const intent: JsonObject = { ns, op: 'read', id, uri };
    if (target.template !== undefined) intent.template = target.template;
    const result = await this.served(
      'resource',
      intent,
      at,
      async (signal) => {
        const provider = await this.offering(ns, 'resources', at);
        if (target.template !== undefined)
          await this.listsTemplate(provider, ns, target.template, at);
        let contents: ResourceContent[];
        try {
          contents = await provider.readResource!(uri, this.options(ns, signal));
        } catch (e) {
          throw await this.readFailed(e, provider, ns, uri, at);
        }
        return { contents, text: contentsText(contents) } as unknown as Json;
      },
      { label: resultLabel, source },
    );
    return value({ uri, ok: true, ...(result as JsonObject) }, resultLabel);
  }

  async getPrompt(ins: InstructionOf<'prompt.get'>, frame: Frame): Promise<Value> {
    const { ns, at } = ins;
    const name = render(ins.name, frame, at);
    const prompt = name.data as string;
    if (!/^[^/*\s]+$/.test(prompt)) {
      throw new TrapError(
        'bad_prompt_name',
        `prompt.get: ${JSON.stringify(prompt)} is not a prompt name: it may not be empty or hold '/', '*' or spaces`,
        at,
        { ns },
      );
    }
    const given = ins.args === undefined ? value({}) : frame.get(ins.args, at);
    const args = promptArguments(given.data, at);
    const history = ins.history === undefined ? undefined : frame.get(ins.history, at);
    const before = history ? historyOf(history.data, at) : [];
    const context = join(name.label, given.label);

    const id = `p${++this.promptSeq}`;
    const resource = promptResource(ns, prompt);
    const what = { kind: 'prompt' as const, tool: `${ns}/${prompt}`, callId: id, args };
    const sink = this.port.sink(resource, false);
    const permit = await this.port.permitted(resource, at, context, what, { mode: 'read', sink });
    if (!permit.ok) {
      throw new PolicyError('prompt_denied', `prompt '${ns}/${prompt}' is ${permit.reason}`, {
        ns,
        prompt,
        at,
      });
    }

    const source = `${resource}#${id}`;
    const resultLabel = joinAll([
      context,
      history?.label ?? PUBLIC_TRUSTED,
      this.labelled(ns, source),
    ]);
    const intent: JsonObject = { ns, op: 'get', id, name: prompt, args };
    const result = await this.served(
      'prompt',
      intent,
      at,
      async (signal) => {
        const provider = await this.offering(ns, 'prompts', at);
        await this.takesArguments(provider, ns, prompt, args, at);
        try {
          const given = await provider.getPrompt!(prompt, args, this.options(ns, signal));
          return given as unknown as Json;
        } catch (e) {
          throw serverRefused(e, 'prompt_failed', `${ns} could not give prompt '${prompt}'`, at);
        }
      },
      { label: resultLabel, source },
    );
    const messages = ((result as JsonObject).messages ?? []) as JsonObject[];
    const added = messages.map((m) => ({ role: m.role as string, content: m.content as string }));
    return value([...(before as unknown as Json[]), ...added], resultLabel);
  }

  // ──────────────────────────────────────────────────────────────────────────────────────

  /** The label a namespace's data carries, from the host configuration, with its source. */
  private labelled(ns: string, source: string): Label {
    return { ...this.port.host.namespaceLabel(ns), sources: [source] };
  }

  /**
   * Asks a server for data, journaled as `<kind>.intent` and then `<kind>.result` or
   * `<kind>.error`. Re-executed, the recorded outcome is served, an error thrown again.
   */
  private async served(
    kind: 'resource' | 'prompt',
    intent: JsonObject,
    at: string | undefined,
    ask: (signal: AbortSignal | undefined) => Promise<Json>,
    labelled?: { label: Label; source: string },
  ): Promise<Json> {
    const tape = this.port.tape;
    tape.write(`${kind}.intent`, intent, at);
    const recorded = tape.outcome(`${kind}.result`, `${kind}.error`);
    if (recorded) {
      const d = recorded.data as JsonObject;
      if (recorded.type === `${kind}.error`) throw errorFromJson(d.error as JsonObject);
      return d.result ?? null;
    }

    tape.flush();
    const started = performance.now();
    let result: Json;
    const { signal, release } = callSignal(() => this.port.signal);
    try {
      result = await ask(signal);
    } catch (e) {
      // Stopped from outside: no outcome is recorded, and a resume asks the server again.
      stopIfAborted(this.port.signal);
      const err =
        e instanceof MvmError
          ? e
          : new ProviderError('request_failed', `${String(intent.ns)}: ${(e as Error).message}`);
      tape.record(`${kind}.error`, { ...intent, error: err.toJSON() as JsonObject }, at);
      throw err;
    } finally {
      release();
    }
    const entry: JsonObject = { ...intent, result, ms: round(performance.now() - started) };
    if (labelled) {
      entry.label = labelled.label as unknown as Json;
      entry.source = labelled.source;
    }
    tape.record(`${kind}.result`, entry, at);
    return result;
  }

  /** The namespace's provider, when its server declared what is asked of it. */
  private async offering(ns: string, what: Offering, at?: string): Promise<ToolProvider> {
    const provider = await this.port.provider(ns);
    if (provider.offers?.(what)) return provider;
    const why =
      provider.describe().kind === 'host'
        ? 'it is served by host functions'
        : `its server did not declare the '${what}' capability`;
    throw new TrapError('not_offered', `namespace '${ns}' offers no ${what}: ${why}`, at, {
      ns,
      capability: what,
    });
  }

  private options(ns: string, signal: AbortSignal | undefined) {
    const host = this.port.host;
    const limit = host.toolTimeout?.(ns) ?? host.toolTimeoutMs;
    const timeoutMs = this.port.meter.timerMs(limit);
    return { timeoutMs, signal };
  }

  /** The URI an instruction names: rendered from `uri`, or its template expanded. */
  private target(ins: InstructionOf<'resource.read'>, frame: Frame) {
    const at = ins.at;
    let uri: string;
    let label: Label;
    let args: JsonObject = {};
    if (ins.uri !== undefined) {
      const v = render(ins.uri, frame, at);
      uri = v.data as string;
      label = v.label;
    } else {
      const given = frame.get(ins.args!, at);
      label = given.label;
      args = templateArguments(given.data, ins.template!, at);
      const expanded = expandTemplate(ins.template!, args as Record<string, string | string[]>);
      if ('missing' in expanded) {
        throw new TrapError(
          'missing_template_argument',
          `resource.read: template '${ins.template}' needs ${quoted(expanded.missing)}, which '${ins.args}' lacks`,
          at,
          { ns: ins.ns, template: ins.template, missing: expanded.missing },
        );
      }
      if ('unknown' in expanded) {
        throw new TrapError(
          'unknown_template_argument',
          `resource.read: template '${ins.template}' has no variable ${quoted(expanded.unknown)}`,
          at,
          { ns: ins.ns, template: ins.template, unknown: expanded.unknown },
        );
      }
      if ('invalid' in expanded) {
        throw new TrapError(
          'bad_template',
          `resource.read: template '${ins.template}' cannot be expanded: ${expanded.invalid}`,
          at,
          { ns: ins.ns, template: ins.template },
        );
      }
      uri = expanded.uri;
    }
    const problem = uriProblem(uri);
    if (problem !== undefined) {
      throw new TrapError(
        'bad_uri',
        `resource.read: ${JSON.stringify(uri.slice(0, 200))} is not a resource URI: ${problem}`,
        at,
        { ns: ins.ns },
      );
    }
    return ins.template === undefined
      ? { uri, label, args }
      : { uri, label, args, template: ins.template };
  }

  private listing(provider: ToolProvider, ns: string): Promise<Listing> {
    let listed = this.listings.get(ns);
    if (!listed) {
      listed = provider.listResources!();
      this.listings.set(ns, listed);
    }
    return listed;
  }

  /** A template the image expands must be one the server lists. */
  private async listsTemplate(provider: ToolProvider, ns: string, template: string, at?: string) {
    const { templates } = await this.listing(provider, ns);
    if (templates.some((t) => t.uriTemplate === template)) return;
    const known = templates.map((t) => t.uriTemplate);
    throw new TrapError(
      'unknown_template',
      `resource.read: ${ns} lists no template '${template}'; its templates: ${shown(known)}`,
      at,
      { ns, template },
    );
  }

  /**
   * Why a read the server refused failed: a URI the server neither lists nor has a template
   * for is unknown, and the message names what it does list.
   */
  private async readFailed(
    e: unknown,
    provider: ToolProvider,
    ns: string,
    uri: string,
    at?: string,
  ): Promise<unknown> {
    if (!(e instanceof ProviderError) || e.code !== 'rpc_error') return e;
    const listed = await this.listing(provider, ns).catch(() => undefined);
    const known =
      listed !== undefined &&
      (listed.resources.some((r) => r.uri === uri) ||
        listed.templates.some((t) => matchesTemplate(t.uriTemplate, uri)));
    if (listed && !known) {
      const names = [
        ...listed.resources.map((r) => r.uri),
        ...listed.templates.map((t) => t.uriTemplate),
      ];
      return new TrapError(
        'unknown_resource',
        `resource.read: ${ns} has no resource '${uri}' (${e.message}); it lists: ${shown(names)}`,
        at,
        { ns, uri, rpcCode: e.data.rpcCode },
      );
    }
    return serverRefused(e, 'resource_failed', `${ns} could not read '${uri}'`, at);
  }

  /** A prompt must be one the server lists, given every argument it needs and no other. */
  private async takesArguments(
    provider: ToolProvider,
    ns: string,
    name: string,
    args: Record<string, string>,
    at?: string,
  ) {
    let listed = this.promptLists.get(ns);
    if (!listed) {
      listed = provider.listPrompts!();
      this.promptLists.set(ns, listed);
    }
    const prompts = await listed;
    const prompt = prompts.find((p) => p.name === name);
    if (!prompt) {
      const known = prompts.map((p) => p.name);
      throw new TrapError(
        'unknown_prompt',
        `prompt.get: ${ns} has no prompt '${name}'; its prompts: ${shown(known)}`,
        at,
        { ns, prompt: name },
      );
    }
    const missing = prompt.arguments
      .filter((a) => a.required && !Object.hasOwn(args, a.name))
      .map((a) => a.name);
    if (missing.length > 0) {
      throw new TrapError(
        'missing_prompt_argument',
        `prompt.get: prompt '${ns}/${name}' needs ${quoted(missing)}`,
        at,
        { ns, prompt: name, missing },
      );
    }
    const unknown = Object.keys(args).filter((k) => !prompt.arguments.some((a) => a.name === k));
    if (unknown.length > 0) {
      throw new TrapError(
        'unknown_prompt_argument',
        `prompt.get: prompt '${ns}/${name}' takes no argument ${quoted(unknown)}`,
        at,
        { ns, prompt: name, unknown },
      );
    }
  }
}

/** The text of what a read gave, as a model reads it: texts in order, blobs summarised. */
function contentsText(contents: ResourceContent[]): string {
  return contents
    .map((c) => {
      if (c.text !== undefined) return c.text;
      const bytes = c.blob === undefined ? 0 : Buffer.from(c.blob, 'base64').length;
      return `[blob ${c.mimeType ?? 'application/octet-stream'} ${c.uri}, ${bytes} bytes]`;
    })
    .join('\n');
}

const isObject = (d: Json): d is JsonObject =>
  d !== null && typeof d === 'object' && !Array.isArray(d);

const scalar = (x: Json): x is string | number | boolean =>
  typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean';

/** A template's variables: strings, or numbers and booleans written as text, or lists of them. */
function templateArguments(data: Json, template: string, at?: string): JsonObject {
  if (!isObject(data)) {
    throw new TrapError(
      'not_an_object',
      `resource.read: the arguments of '${template}' are not an object`,
      at,
    );
  }
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(data)) {
    if (scalar(v)) out[k] = String(v);
    else if (Array.isArray(v) && v.every(scalar)) out[k] = v.map(String);
    else {
      throw new TrapError(
        'bad_template_argument',
        `resource.read: variable '${k}' of '${template}' must be text, a number, a boolean or a list of them`,
        at,
      );
    }
  }
  return out;
}

/** A prompt's arguments: MCP takes strings, so numbers and booleans are written as text. */
function promptArguments(data: Json, at?: string): Record<string, string> {
  if (!isObject(data)) {
    throw new TrapError('not_an_object', 'prompt.get: the prompt arguments are not an object', at);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data)) {
    if (!scalar(v)) {
      throw new TrapError(
        'bad_prompt_argument',
        `prompt.get: argument '${k}' must be text, a number or a boolean`,
        at,
      );
    }
    out[k] = String(v);
  }
  return out;
}

/** A server's error answer as a trap at the instruction; anything else stays as it is. */
function serverRefused(e: unknown, code: string, what: string, at?: string): unknown {
  if (!(e instanceof ProviderError) || e.code !== 'rpc_error') return e;
  return new TrapError(code, `${what}: ${e.message}`, at, {
    ns: e.data.namespace,
    rpcCode: e.data.rpcCode,
  });
}

const quoted = (names: string[]) => names.map((n) => `'${n}'`).join(', ');

function shown(names: string[]): string {
  if (names.length === 0) return 'none';
  const head = names.slice(0, SHOWN).join(', ');
  return names.length > SHOWN ? `${head}, and ${names.length - SHOWN} more` : head;
}
