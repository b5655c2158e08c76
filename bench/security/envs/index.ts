/** The environments of the benchmark, in the order the tables list them. */
import type { Environment } from '../types.js';
import { banking } from './banking/tasks.js';
import { chat } from './chat/tasks.js';
import { travel } from './travel/tasks.js';
import { workspace } from './workspace/tasks.js';

export const ENVIRONMENTS = [workspace, banking, chat, travel] as Environment<unknown>[];
