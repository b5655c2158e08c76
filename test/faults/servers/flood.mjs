// Sends a flood of notifications before it answers each call.
import { basic, send, text } from './rpc.mjs';

basic((m) => {
  for (let i = 0; i < 20_000; i++) {
    send({
      jsonrpc: '2.0',
      method: 'notifications/message',
      params: { level: 'info', data: `line ${i}` },
    });
  }
  text(m.id, 'after the flood');
});
