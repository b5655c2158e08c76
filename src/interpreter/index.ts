export { BudgetMeter, type Budgets, DEFAULT_BUDGETS } from './budget.js';
export type { MachineEvent, MachineHost, UserChannel } from './effects.js';
export { Machine, type MachineOptions, type RunOutcome } from './machine.js';
