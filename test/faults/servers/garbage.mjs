// Answers a call with lines that are not JSON-RPC, and never with the answer.
import { basic } from './rpc.mjs';

basic((m) => {
  process.stdout.write('this is not json\n');
  process.stdout.write(`{"jsonrpc":"2.0","id":${JSON.stringify(m.id)},"result":"not an object"}\n`);
  process.stdout.write('\u0000\u0001{{{\n');
  process.stdout.write('{"jsonrpc":"2.0","id":"unknown-id","result":{"content":[]}}\n');
});
