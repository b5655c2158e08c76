import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JournalEntry } from '../src/audit/chain.js';
import { parseConfig } from '../src/host/config.js';
import { Mvm } from '../src/host/host.js';
import { imageFromObject } from '../src/host/image-file.js';
import type { RecordedReply } from '../src/models/replay.js';
import {
  serveRecorded,
  WIRE_DRIVERS,
  type WireDriver,
} from '../src/models/test-helpers/recorded.js';
import { readSource } from '../src/spec/source.js';
import type { Json, JsonObject } from '../src/spec/types.js';

/**
 * The conformance cases again, with every HTTP driver in place of the replay driver: each
 * case whose model slot lists inline replies runs once on replay, then once per driver and
 * mode (one document, or a stream) against a loopback server that sends the same replies in
 * that provider's wire format. Each run must reach the case's outcome and effects, and
 * journal the same model replies and tool calls as the replay run.
 *
 * Spawning the reference MCP server for each of some eighty runs takes longer than the file
 * may, so the replay and driver runs here reach one in-process copy of it over Streamable
 * HTTP on 127.0.0.1 (a session each, the same tools); conformance.test.ts runs the cases over
 * stdio. MVM_DRIVERS_STDIO=1 runs them over stdio here too, as the cases say.
 */

interface Case {
  description: string;
  image: unknown;
  config?: JsonObject;
  inputs?: Record<string, Json>;
  expect: { status: string; code?: string; output?: Json; effects?: string[] };
}

/** Cases that test the replay driver itself: an HTTP driver has nothing to say there. */
const REPLAY_ONLY: Record<string, string> = {
  '09-replay-exhausted.yaml':
    'checks replay_exhausted, an error only the replay driver raises (a server has no end)',
  '10-replay-tool-set.yaml':
    'checks replay_tool_set_mismatch, a check of recorded tool sets only the replay driver makes',
};

/** Cases one wire format cannot express, by `case driver` or `case driver stream`. */
const INEXPRESSIBLE: Record<string, string> = {
  '04-malformed-arguments.yaml anthropic':
    'Anthropic Messages sends tool input as a JSON object: malformed argument text cannot be ' +
    'sent outside a stream',
  '04-malformed-arguments.yaml ollama':
    'Ollama sends tool arguments as a JSON object: malformed argument text cannot be sent',
  '04-malformed-arguments.yaml ollama stream':
    'Ollama sends tool arguments as a JSON object: malformed argument text cannot be sent',
};

const dir = join(import.meta.dirname, 'cases');
const stores: string[] = [];
afterAll(() => {
  for (const store of stores) rmSync(store, { recursive: true, force: true });
});

const EVERYTHING = '@modelcontextprotocol/server-everything';
const STDIO = process.env.MVM_DRIVERS_STDIO === '1';

interface EverythingServer {
  connect(transport: StreamableHTTPServerTransport): Promise<void>;
}
type Factory = () => { server: EverythingServer; cleanup(sessionId?: string): void };

/** The reference server, in this process, one session per client, on a loopback port. */
async function serveEverything(): Promise<{ url: string; close(): Promise<void> }> {
  // The package ships no types; its server factory is all this needs.
  const module = (await import(`${EVERYTHING}/dist/server/index.js`)) as { createServer: Factory };
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const cleanups = new Set<() => void>();
  const http = createServer((req, res) => {
    const id = req.headers['mcp-session-id'];
    const known = typeof id === 'string' ? sessions.get(id) : undefined;
    if (known !== undefined) {
      void known.handleRequest(req, res);
      return;
    }
    if (id !== undefined) {
      res.writeHead(404).end();
      return;
    }
    const { server, cleanup } = module.createServer();
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      onsessioninitialized: (sid) => void sessions.set(sid, transport),
    });
    const end = () => cleanup(transport.sessionId);
    cleanups.add(end);
    transport.onclose = () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
      cleanups.delete(end);
      end();
    };
    void server.connect(transport).then(() => transport.handleRequest(req, res));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    close: async () => {
      for (const end of cleanups) end();
      await Promise.all([...sessions.values()].map((t) => t.close()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

let everything: { url: string; close(): Promise<void> } | undefined;
beforeAll(async () => {
  if (!STDIO) everything = await serveEverything();
});
afterAll(() => everything?.close());

/** The case's configuration, with its models replaced and reference servers reached by url. */
function configOf(c: Case, models: Record<string, Model>): JsonObject {
  const config: JsonObject = { ...c.config, models };
  const servers = (c.config?.mcpServers ?? {}) as Record<string, JsonObject>;
  if (everything === undefined) return config;
  const url = everything.url;
  config.mcpServers = Object.fromEntries(
    Object.entries(servers).map(([ns, spec]) => {
      const args = Array.isArray(spec.args) ? spec.args.map(String) : [];
      if (!args.some((a) => a.includes(EVERYTHING))) return [ns, spec];
      const { command: _command, args: _args, ...rest } = spec;
      return [ns, { ...rest, url }];
    }),
  );
  return config;
}

type Model = JsonObject & { driver: string; replies?: RecordedReply[] };

function modelsOf(c: Case): Record<string, Model> {
  return (c.config?.models ?? {}) as Record<string, Model>;
}

/** The effects of a run, one line each, in journal order (as conformance.test.ts counts). */
function effects(entries: JournalEntry[]): string[] {
  const out: string[] = [];
  for (const e of entries) {
    const d = e.data as JsonObject;
    if (e.type === 'model.reply') out.push(`model ${d.slot}`);
    if (e.type === 'tool.result') out.push(`tool ${d.name} ${d.isError ? 'error' : 'ok'}`);
    if (e.type === 'tool.refused') out.push(`tool ${d.name} ${d.denied ? 'denied' : 'refused'}`);
    if (e.type === 'user.show') out.push('show');
    if (e.type === 'mem.store' || e.type === 'mem.load') out.push(`${e.type} ${d.key}`);
  }
  return out;
}

/**
 * Argument text as the value it spells, since wire formats that carry objects re-serialise
 * it; empty text reads as `{}`, as the machine reads it. Text that is not JSON stays as is.
 */
function parsed(raw: unknown): unknown {
  if (typeof raw !== 'string') return raw;
  if (raw === '') return {};
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** What the journal says the model answered and which tool calls it led to. */
function calls(entries: JournalEntry[]): unknown[] {
  const out: unknown[] = [];
  for (const e of entries) {
    const d = e.data as JsonObject;
    if (e.type === 'model.reply') {
      const r = d.reply as JsonObject;
      const usage = r.usage as JsonObject;
      out.push({
        type: e.type,
        slot: d.slot,
        text: r.text,
        stop: r.stop,
        usage: { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens },
        toolCalls: (r.toolCalls as JsonObject[]).map((c) => ({
          id: c.id,
          name: c.name,
          arguments: parsed(c.arguments),
        })),
      });
    }
    if (e.type === 'tool.intent') {
      out.push({ type: e.type, callId: d.callId, name: d.name, args: d.args });
    }
    if (e.type === 'tool.refused') {
      const { callId, name, reason, denied } = d;
      out.push({ type: e.type, callId, name, arguments: parsed(d.arguments), reason, denied });
    }
  }
  return out;
}

interface Outcome {
  status: string;
  code: unknown;
  output: Json | null;
  effects: string[];
  calls: unknown[];
  audit: boolean;
}

async function run(c: Case, path: string, models: Record<string, Model>): Promise<Outcome> {
  const store = mkdtempSync(join(tmpdir(), 'mvm-conformance-drivers-'));
  stores.push(store);
  const config = parseConfig(configOf(c, models), { path, dir });
  const mvm = new Mvm({ config, storeDir: store });
  try {
    const result = await mvm.run(imageFromObject(c.image), { inputs: c.inputs ?? {} });
    const entries = mvm.store.entries(result.runId);
    return {
      status: result.error?.kind === 'policy' ? 'denied' : result.status,
      code: result.error?.code,
      output: result.output,
      effects: effects(entries),
      calls: calls(entries),
      audit: mvm.auditRun(result.runId).report.ok,
    };
  } finally {
    mvm.close();
  }
}

function once<T>(make: () => Promise<T>): () => Promise<T> {
  let promise: Promise<T> | undefined;
  return () => {
    promise ??= make();
    return promise;
  };
}

const variants = WIRE_DRIVERS.flatMap((driver) =>
  [false, true].map((stream) => ({ driver, stream })),
);

function label(driver: WireDriver, stream: boolean): string {
  return stream ? `${driver} stream` : driver;
}

describe('conformance on every driver', () => {
  for (const name of readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    const path = join(dir, name);
    const c = readSource(path, 'conformance case').data as Case;
    const models = modelsOf(c);
    const inline = Object.values(models).some(
      (m) => m.driver === 'replay' && Array.isArray(m.replies),
    );
    if (!inline) {
      it.skip(`${name}: skipped, reason: no model slot with inline replay replies`, () => {});
      continue;
    }
    const why = REPLAY_ONLY[name];
    if (why !== undefined) {
      it.skip(`${name}: skipped on every HTTP driver, reason: ${why}`, () => {});
      continue;
    }

    describe.concurrent(`${name}: ${c.description}`, () => {
      const replay = once(() => run(c, path, models));

      for (const { driver, stream } of variants) {
        const variant = label(driver, stream);
        const reason = INEXPRESSIBLE[`${name} ${variant}`];
        if (reason !== undefined) {
          it.skip(`${variant}: skipped, reason: ${reason}`, () => {});
          continue;
        }

        it(variant, async () => {
          const servers = await Promise.all(
            Object.entries(models).map(async ([slot, model]) => {
              const server = await serveRecorded(driver, model.replies ?? []);
              const binding: Model = {
                driver,
                baseUrl: server.baseUrl,
                model: 'mock-model',
                stream,
                maxRetries: 0,
                timeoutMs: 10_000,
              };
              return { slot, server, binding };
            }),
          );
          try {
            const bound = Object.fromEntries(servers.map((s) => [s.slot, s.binding]));
            const [got, want] = await Promise.all([run(c, path, bound), replay()]);

            expect({ status: got.status, code: got.code }).toEqual({
              status: c.expect.status,
              code: c.expect.code,
            });
            if ('output' in c.expect) expect(got.output).toEqual(c.expect.output);
            if (c.expect.effects) expect(got.effects).toEqual(c.expect.effects);
            expect(got.audit).toBe(true);
            // The same run as on replay: outcome, model replies and tool calls.
            expect(got.output).toEqual(want.output);
            expect(got.effects).toEqual(want.effects);
            expect(got.calls).toEqual(want.calls);
            // Every request the server answered is a reply the run journalled.
            const asked = servers.reduce((n, s) => n + s.server.seen.length, 0);
            expect(asked).toBe(got.effects.filter((e) => e.startsWith('model ')).length);
          } finally {
            await Promise.all(servers.map((s) => s.server.close()));
          }
        });
      }
    });
  }
});
