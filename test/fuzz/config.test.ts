import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { type HostConfig, parseConfig } from '../../src/host/config.js';
import { Mvm } from '../../src/host/host.js';
import { imageFromObject } from '../../src/host/image-file.js';
import type { Json } from '../../src/spec/types.js';
import { jsonValue, nastyString, params, timeout, typed } from './arbitraries.js';

const dir = mkdtempSync(join(tmpdir(), 'mvm-fuzz-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Option values as a person mistypes them, or as a hostile file writes them. */
const optionValue: fc.Arbitrary<Json> = fc.oneof(
  jsonValue,
  fc.constantFrom<Json>(0, -1, 1.5, 2 ** 31, 1e308, '10', true, [], {}, 'http://127.0.0.1:1/v1'),
);

/** Usually a valid value, sometimes anything: most configurations then parse and bind. */
function mostly<T extends Json>(valid: fc.Arbitrary<T>): fc.Arbitrary<Json> {
  return fc.oneof({ weight: 8, arbitrary: valid }, { weight: 1, arbitrary: optionValue });
}

const driverName = fc.constantFrom(
  'replay',
  'openai-compatible',
  'openai-responses',
  'anthropic',
  'ollama',
  'constructor',
  '__proto__',
  'toString',
  'hasOwnProperty',
  'valueOf',
);

const BINDING_KEYS = [
  'model',
  'baseUrl',
  'timeoutMs',
  'maxRetries',
  'stream',
  'contextWindow',
  'price',
  'maxTokens',
  'headers',
  'capabilities',
  'replies',
  'file',
  'toolChoice',
  'schemaMode',
  'options',
  'keepAlive',
] as const;

const binding = fc.record(
  {
    driver: fc.oneof({ weight: 8, arbitrary: driverName }, { weight: 1, arbitrary: nastyString }),
    ...Object.fromEntries(BINDING_KEYS.map((k) => [k, optionValue])),
  },
  { requiredKeys: ['driver'] },
);

const server = fc.record(
  {
    type: mostly(fc.constantFrom('stdio', 'http', 'sse', 'streamable-http')),
    command: mostly(fc.constantFrom('node', 'unused')),
    args: fc.array(nastyString, { maxLength: 2 }),
    url: mostly(fc.constantFrom('http://127.0.0.1:1/mcp', 'not a url')),
    timeoutMs: mostly(fc.integer({ min: 1, max: 60_000 })),
    label: fc.record({
      integrity: fc.constantFrom('trusted', 'untrusted', 'nope'),
      readers: fc.oneof(fc.constant('public'), fc.array(nastyString, { maxLength: 2 })),
    }),
    modes: fc.dictionary(nastyString, fc.constantFrom('read', 'write', 'execute', 'x')),
    resources: fc.dictionary(nastyString, fc.constantFrom('fs', 'net', 'x')),
    disabled: fc.boolean(),
  },
  { requiredKeys: ['command', 'type'] },
);

const slotOrNs = fc.constantFrom('main', 'fn', 'constructor', '__proto__', 'toString');

const rule = fc
  .tuple(
    fc.constantFrom('allow', 'deny', 'confirm'),
    fc.oneof(fc.constantFrom('model:main', 'tool:fn/*', '**', 'user', 'model:*'), nastyString),
    fc.record(
      {
        mode: mostly(fc.constantFrom('read', 'write', 'execute')),
        until: mostly(fc.constantFrom('2099-01-01T00:00:00Z', '2000-01-01T00:00:00Z')),
        reason: nastyString,
      },
      { requiredKeys: [] },
    ),
  )
  .map(([verdict, pattern, extra]) => ({ [verdict]: pattern, ...extra }));

const configArb = fc.record(
  {
    models: fc.dictionary(slotOrNs, binding, { maxKeys: 2 }),
    mcpServers: fc.dictionary(slotOrNs, server, { maxKeys: 2 }),
    tools: fc.dictionary(slotOrNs, server, { maxKeys: 1 }),
    rules: fc.array(rule, { maxLength: 4 }),
    budgets: fc.dictionary(
      fc.constantFrom('steps', 'modelCalls', 'tokens', 'wallMs', 'toolCalls'),
      mostly(fc.integer({ min: 1, max: 100_000 })),
    ),
    toolTimeoutMs: mostly(fc.integer({ min: 1, max: 60_000 })),
    inputs: fc.dictionary(nastyString, jsonValue, { maxKeys: 2 }),
    store: fc.record({ durability: mostly(fc.constantFrom('full', 'normal')) }),
    trust: fc.record({ images: fc.array(nastyString, { maxLength: 1 }) }),
    manifest: fc.record({ signingKey: nastyString }),
  },
  { requiredKeys: ['models', 'mcpServers', 'rules'] },
);

/** An image that needs a slot and a namespace the configuration may or may not fill. */
function imageFor(slot: string, ns: string) {
  return {
    mvm: 1,
    name: 'bind',
    models: { [slot]: {} },
    tools: { [ns]: {} },
    permissions: [`model:${slot}`],
    procedures: { main: { body: [{ op: 'data.const', value: 1, dst: 'x' }, { op: 'halt' }] } },
  };
}

describe('a host configuration, fuzzed', () => {
  it(
    'parses to a configuration or a ConfigError, and binds or refuses with a typed error',
    async () => {
      let parsed = 0;
      let total = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.oneof({ weight: 4, arbitrary: configArb }, { weight: 1, arbitrary: jsonValue }),
          slotOrNs,
          slotOrNs,
          async (raw, slot, ns) => {
            total++;
            let config: HostConfig;
            try {
              config = parseConfig(raw, { path: null, dir });
            } catch (e) {
              expect(typed(e).kind).toBe('config');
              return;
            }
            parsed++;
            let mvm: Mvm | undefined;
            try {
              mvm = new Mvm({ config, storeDir: join(dir, 'store') });
              const result = await mvm.run(imageFromObject(imageFor(slot, ns)));
              expect(result.error?.kind).not.toBe('internal');
              // A run that binds needs every slot and namespace filled by the configuration.
              expect(Object.hasOwn(config.models, slot)).toBe(true);
              expect(Object.hasOwn(config.tools, ns)).toBe(true);
            } catch (e) {
              expect(typed(e).kind).not.toBe('internal');
            } finally {
              mvm?.close();
            }
          },
        ),
        params(300),
      );
      // Configurations that never parse would leave binding untested. About one in ten
      // parses; the bound leaves room for the spread of a few hundred random cases.
      expect(parsed).toBeGreaterThan(total / 25);
    },
    timeout(40_000),
  );
});
