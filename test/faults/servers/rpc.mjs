// A bare JSON-RPC peer over stdio, as MCP's stdio transport frames it: one message a line.
// The test servers use it instead of the SDK so that they can break the protocol at will.
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

// Where the test learns this process's pid, to check that it is gone after close.
if (process.env.PID_FILE) writeFileSync(process.env.PID_FILE, String(process.pid));

export function send(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

export function result(id, value) {
  send({ jsonrpc: '2.0', id, result: value });
}

export function initialized(id, params, capabilities = { tools: {} }) {
  result(id, {
    protocolVersion: params?.protocolVersion ?? '2025-06-18',
    capabilities,
    serverInfo: { name: 'fault', version: '0.0.0' },
  });
}

/** Calls `handle(message)` for every message; stdin closing calls `onClose`, default exit. */
export function serve(handle, onClose = () => process.exit(0)) {
  const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  lines.on('line', (line) => {
    let message;
    try {
      message = JSON.parse(line);
    } catch {
      return;
    }
    handle(message);
  });
  lines.on('close', onClose);
}

export const TOOL = { name: 't', description: 'a tool', inputSchema: { type: 'object' } };

/** initialize and tools/list as a sane server answers them; the rest is `onCall`'s. */
export function basic(onCall, options = {}) {
  serve((m) => {
    if (m.id === undefined) return;
    if (m.method === 'initialize') return initialized(m.id, m.params);
    if (m.method === 'tools/list') return result(m.id, { tools: [TOOL] });
    if (m.method === 'tools/call') return onCall(m);
    send({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'no such method' } });
  }, options.onClose);
}

export function text(id, value) {
  result(id, { content: [{ type: 'text', text: value }] });
}
