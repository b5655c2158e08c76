// Takes its time before it reads anything, as a server that loads a model does.
import { basic, text } from './rpc.mjs';

await new Promise((resolve) => setTimeout(resolve, Number(process.env.DELAY_MS ?? 1500)));
basic((m) => text(m.id, 'ready at last'));
