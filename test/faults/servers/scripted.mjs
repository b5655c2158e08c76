// Answers tools/list and tools/call with whatever it is told, however malformed: from
// MCP_LIST and MCP_REPLY in its environment, or from the arguments of the call itself
// (`reply`, and `__set_list` to change the next tools/list answer).
import { initialized, send, serve } from './rpc.mjs';

const parse = (text, fallback) => (text === undefined ? fallback : JSON.parse(text));
let list = parse(process.env.MCP_LIST, {
  tools: [{ name: 'raw', inputSchema: { type: 'object' } }],
});
const reply = parse(process.env.MCP_REPLY, { result: { content: [] } });

serve((m) => {
  if (m.id === undefined) return;
  if (m.method === 'initialize') return initialized(m.id, m.params);
  if (m.method === 'tools/list') return send({ jsonrpc: '2.0', id: m.id, ...{ result: list } });
  if (m.method === 'tools/call') {
    const args = m.params?.arguments ?? {};
    if (m.params?.name === '__set_list') {
      list = args.result;
      return send({ jsonrpc: '2.0', id: m.id, result: { content: [] } });
    }
    const given = 'reply' in args ? args.reply : reply;
    return send({ jsonrpc: '2.0', id: m.id, ...given });
  }
  send({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'no such method' } });
});
