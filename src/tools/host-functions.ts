import type { JsonObject } from '../spec/types.js';
import type { CallOptions, ToolDefinition, ToolProvider, ToolResult } from './provider.js';

/** A function the host application registers as a tool. */
export interface HostFunction {
  description: string;
  inputSchema?: JsonObject;
  /** The shape of what it returns; an object it returns is then its structured content too. */
  outputSchema?: JsonObject;
  /** Hints as an MCP server would give them (readOnlyHint, destructiveHint, ...). */
  annotations?: JsonObject;
  /** Returns text, or JSON that is shown to the model as text. Throwing is a tool failure. */
  run(args: JsonObject, options: { signal?: AbortSignal }): unknown | Promise<unknown>;
}

/**
 * Tools served by functions of the host application, in one namespace.
 *
 * ```ts
 * new HostFunctions('clock', { now: { description: 'the time', run: () => new Date().toISOString() } })
 * ```
 */
export class HostFunctions implements ToolProvider {
  constructor(
    readonly namespace: string,
    private readonly functions: Record<string, HostFunction>,
  ) {}

  async connect(): Promise<void> {}

  async list(): Promise<ToolDefinition[]> {
    return Object.entries(this.functions).map(([name, f]) => {
      const def: ToolDefinition = {
        name,
        description: f.description,
        inputSchema: f.inputSchema ?? { type: 'object', properties: {} },
      };
      if (f.outputSchema) def.outputSchema = f.outputSchema;
      if (f.annotations) def.annotations = f.annotations;
      return def;
    });
  }

  async call(name: string, args: JsonObject, options: CallOptions): Promise<ToolResult> {
    const f = this.functions[name];
    if (!f) return { isError: true, content: [], text: `unknown tool '${name}'` };
    try {
      // Read only when the function asks for it: a call's signal is made on first read.
      const out = await f.run(args, {
        get signal() {
          return options.signal;
        },
      });
      const text = typeof out === 'string' ? out : JSON.stringify(out ?? null);
      const result: ToolResult = { isError: false, content: [{ type: 'text', text }], text };
      const object = out !== null && typeof out === 'object' && !Array.isArray(out);
      if (f.outputSchema && object) result.structured = out as JsonObject;
      return result;
    } catch (e) {
      const text = e instanceof Error ? e.message : String(e);
      return { isError: true, content: [{ type: 'text', text }], text };
    }
  }

  describe() {
    return { kind: 'host' as const };
  }

  async close(): Promise<void> {}
}
