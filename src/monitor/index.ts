export {
  type AccessRequest,
  type Decision,
  Monitor,
  type Rule,
  type Verdict,
} from './monitor.js';
