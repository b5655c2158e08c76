export { type HostFunction, HostFunctions } from './host-functions.js';
export { McpProvider, type McpProviderOptions, type McpServerSpec } from './mcp.js';
export type { McpAuth, McpClientHooks, McpEvent } from './mcp-hooks.js';
export type * from './provider.js';
export { mayChange, toolHints } from './provider.js';
