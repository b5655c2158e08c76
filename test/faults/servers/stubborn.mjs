// Ignores stdin closing and SIGTERM, and leaves a grandchild that does the same.
import { spawn } from 'node:child_process';
import { basic, text } from './rpc.mjs';

const forever = "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000);";
const grandchild = spawn(process.execPath, ['-e', forever], { stdio: 'ignore' });
process.on('SIGTERM', () => {});
setInterval(() => {}, 1000);
basic((m) => text(m.id, JSON.stringify([process.pid, grandchild.pid])), { onClose: () => {} });
