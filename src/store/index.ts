export {
  type Durability,
  Journal,
  type RunRecord,
  type RunStatus,
  RunStore,
  type StoreOptions,
} from './store.js';
