// Answers initialize and exits in the same breath: what the client sends next finds no one.
import { initialized, serve } from './rpc.mjs';

serve((m) => {
  if (m.method === 'initialize') {
    initialized(m.id, m.params);
    process.exit(1);
  }
});
