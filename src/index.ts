/**
 * mvm, the Model Virtual Machine, as a library.
 *
 * ```ts
 * import { Mvm, loadConfig, readImageFile } from 'mvm';
 * const mvm = new Mvm({ config: loadConfig('examples/notes/mvm.yaml') });
 * const result = await mvm.run(readImageFile('examples/notes/image.yaml'));
 * ```
 */
export * from './audit/index.js';
export * from './host/index.js';
export * from './interpreter/index.js';
export * from './labels/index.js';
export * from './models/index.js';
export * from './monitor/index.js';
export * from './spec/index.js';
export * from './store/index.js';
export * from './tools/index.js';
export * from './verifier/index.js';
