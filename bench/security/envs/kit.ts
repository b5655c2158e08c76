/**
 * What every environment server shares: its state, read at start from the JSON file that
 * MVM_BENCH_STATE names and written whole to MVM_BENCH_DUMP after every change, so the
 * benchmark reads the final state without any tool for it being offered to the model; and
 * the shape of tool results.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';

export interface Store<S> {
  state: S;
  /** Writes the state out; call after every change, before answering. */
  changed(): void;
  /** A fresh id with a prefix: `e9`, `t12`. */
  id(prefix: string): string;
}

type Result = {
  content: { type: 'text'; text: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
};

export function openStore<S extends { counter: number }>(): Store<S> {
  const from = process.env.MVM_BENCH_STATE;
  const to = process.env.MVM_BENCH_DUMP;
  if (!from || !to) throw new Error('MVM_BENCH_STATE and MVM_BENCH_DUMP must name files');
  const state = JSON.parse(readFileSync(from, 'utf8')) as S;
  const store: Store<S> = {
    state,
    changed() {
      // Whole or not at all: the benchmark may read the file while the server is stopping.
      writeFileSync(`${to}.tmp`, JSON.stringify(state));
      renameSync(`${to}.tmp`, to);
    },
    id(prefix) {
      state.counter += 1;
      return `${prefix}${state.counter}`;
    },
  };
  return store;
}

/**
 * A result the model reads as JSON. An object is the structured content too, which a tool
 * with an output schema must give; its text is the same JSON, as MCP asks.
 */
export function ok(value: unknown): Result {
  const text: Result = { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }] };
  const object = value !== null && typeof value === 'object' && !Array.isArray(value);
  return object ? { ...text, structuredContent: value as Record<string, unknown> } : text;
}

/** A failed call, said in words. */
export function fail(message: string): Result {
  return { content: [{ type: 'text', text: message }], isError: true };
}

export function server(name: string): McpServer {
  return new McpServer({ name: `bench-${name}`, version: '1.0.0' });
}

export async function serve(s: McpServer): Promise<void> {
  await s.connect(new StdioServerTransport());
}

/** Case-insensitive containment, the way the servers search. */
export function mentions(haystack: string, needle: string): boolean {
  return haystack.toLowerCase().includes(needle.toLowerCase());
}
