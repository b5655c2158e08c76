// Takes every call and answers none.
import { basic } from './rpc.mjs';

basic(() => {});
