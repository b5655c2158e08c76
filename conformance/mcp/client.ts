/**
 * The client the MCP conformance suite drives: `node --import tsx conformance/mcp/client.ts
 * URL`, with the scenario in MCP_CONFORMANCE_SCENARIO. It does not speak MCP itself: it runs
 * a small image through mvm's host (configuration, monitor, journal, McpProvider), so what
 * the suite checks is what mvm does. Exit 0 when the run is done, 1 when it failed, 2 when
 * something this client checks itself went wrong (a token found in the journal).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { imageFromObject, Mvm, parseConfig } from '../../src/index.js';
import type { Json, JsonObject } from '../../src/spec/types.js';
import { HeadlessOAuth } from '../../src/tools/test-helpers/oauth.js';

const NS = 'conf';

/** The tool each scenario expects a call to, and its arguments. */
const CALLS: Record<string, { tool: string; args?: JsonObject }> = {
  tools_call: { tool: 'add_numbers', args: { a: 2, b: 3 } },
  'elicitation-sep1034-client-defaults': { tool: 'test_client_elicitation_defaults' },
  'sse-retry': { tool: 'test_reconnection' },
};

function imageFor(scenario: string): JsonObject {
  const call = CALLS[scenario] ?? (scenario.startsWith('auth/') ? { tool: 'test-tool' } : null);
  const body: Json[] = [{ op: 'tool.load', ns: NS, dst: 'tools' }];
  if (call) {
    body.push(
      { op: 'data.const', value: call.args ?? {}, dst: 'args' },
      { op: 'tool.call', tool: `${NS}/${call.tool}`, args: 'args', dst: 'result' },
      { op: 'halt', src: 'result' },
    );
  } else body.push({ op: 'halt', src: 'tools' });
  return {
    mvm: 1,
    name: 'conformance-client',
    tools: { [NS]: {} },
    permissions: [`tool:${NS}/*`],
    procedures: { main: { body } },
  };
}

async function main(): Promise<number> {
  const url = process.argv.at(-1);
  const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? '';
  if (!url || !URL.canParse(url)) {
    console.error('usage: client.ts URL (with MCP_CONFORMANCE_SCENARIO set)');
    return 2;
  }
  const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? '{}') as JsonObject;

  const dir = mkdtempSync(join(tmpdir(), 'mvm-conformance-'));
  const config = parseConfig(
    {
      mcpServers: { [NS]: { url } },
      rules: [{ allow: `tool:${NS}/*` }, { allow: `elicitation:${NS}` }],
      toolTimeoutMs: 20_000,
    },
    { path: null, dir },
  );
  const preregistered =
    typeof context.client_id === 'string'
      ? { client_id: context.client_id, client_secret: String(context.client_secret ?? '') }
      : undefined;
  // The suite's authorization servers grant at once and redirect with a code; the client
  // offers a metadata document too, for the scenarios that register by one.
  const oauth = new HeadlessOAuth({
    ...(preregistered ? { preregistered } : {}),
    metadataUrl: 'https://conformance-test.local/client-metadata.json',
  });
  const mvm = new Mvm({ config, storeDir: join(dir, '.mvm'), mcpAuth: { [NS]: oauth.auth() } });

  try {
    const result = await mvm.run(imageFromObject(imageFor(scenario)), {
      // Elicitation: the person accepts without typing anything, so defaults must fill in.
      user: { ask: async () => ({}) },
      serverEvents: (e) => console.log(`event ${JSON.stringify(e)}`),
    });
    console.log(JSON.stringify({ status: result.status, output: result.output }));
    if (result.error) console.error(JSON.stringify(result.error));

    const journal = JSON.stringify(mvm.store.entries(result.runId));
    const manifest = readFileSync(result.manifestPath, 'utf8');
    const leaked = oauth.issued.filter((t) => journal.includes(t) || manifest.includes(t));
    if (leaked.length > 0) {
      console.error(`an access token reached the journal or the manifest (${leaked.length})`);
      return 2;
    }
    return result.status === 'done' ? 0 : 1;
  } finally {
    mvm.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
