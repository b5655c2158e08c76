// Answers a call with a result of 5 MB.
import { basic, text } from './rpc.mjs';

basic((m) => text(m.id, 'x'.repeat(5 * 1024 * 1024)));
