export { BudgetMeter, type Budgets, DEFAULT_BUDGETS } from './budget.js';
export type { MachineEvent, MachineHost } from './effects.js';
export { Machine, type MachineOptions, type RunOutcome } from './machine.js';
export {
  type ConfirmAnswer,
  type ConfirmRequest,
  type Pending,
  type Question,
  type UserChannel,
  WAIT,
} from './people.js';
export { DivergenceError, Tape } from './tape.js';
