// Starts and lists its tool, then dies in the middle of the first call.
import { basic } from './rpc.mjs';

basic(() => {
  process.stderr.write('crashing mid-call\n');
  process.exit(3);
});
