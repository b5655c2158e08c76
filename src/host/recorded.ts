import type { JournalEntry } from '../audit/chain.js';
import type { ModelDescription, ModelDriver, ModelReply } from '../models/driver.js';
import { ProviderError } from '../spec/errors.js';
import type { JsonObject } from '../spec/types.js';
import type {
  ProviderDescription,
  ToolDefinition,
  ToolProvider,
  ToolResult,
} from '../tools/provider.js';

/**
 * Stand-ins for the models and tool servers of a run being replayed: they describe
 * themselves and list their tools as the journal recorded, and are never asked anything
 * else, since every reply and result comes from the journal too.
 */

export function recordedDriver(slot: string, entries: readonly JournalEntry[]): ModelDriver {
  const load = entries.find((e) => e.type === 'model.load' && (e.data as JsonObject).slot === slot);
  const { slot: _slot, ...description } = (load?.data ?? {}) as JsonObject;
  return {
    describe: () => description as unknown as ModelDescription,
    call(): Promise<ModelReply> {
      throw new ProviderError('not_recorded', `the journal holds no reply for slot '${slot}' here`);
    },
  };
}

export function recordedProviders(entries: readonly JournalEntry[]) {
  const loads = new Map<string, JsonObject[]>();
  for (const e of entries) {
    if (e.type !== 'tool.load') continue;
    const d = e.data as JsonObject;
    const list = loads.get(d.ns as string) ?? [];
    list.push(d);
    loads.set(d.ns as string, list);
  }
  return (ns: string): ToolProvider => {
    const queue = [...(loads.get(ns) ?? [])];
    let current = queue[0];
    return {
      namespace: ns,
      async connect() {},
      async list(): Promise<ToolDefinition[]> {
        current = queue.shift() ?? current;
        const tools = (current?.tools ?? []) as JsonObject[];
        return tools.map((t) => t.definition as unknown as ToolDefinition);
      },
      describe: () => (current?.server ?? { kind: 'host' }) as unknown as ProviderDescription,
      call(): Promise<ToolResult> {
        throw new ProviderError('not_recorded', `the journal holds no result for '${ns}' here`);
      },
      async close() {},
    };
  };
}
