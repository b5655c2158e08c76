export {
  DEFAULT_STORE,
  type Durability,
  Journal,
  type RunRecord,
  type RunStatus,
  RunStore,
  type StoreOptions,
} from './store.js';
