// An MCP server with one resource whose read never answers: a read of it is under way until
// the client gives up on it.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';

const server = new McpServer({ name: 'slow-resource', version: '1.0.0' });
server.registerResource(
  'slow',
  'slow://doc',
  { description: 'a document slow to read' },
  () => new Promise(() => {}),
);
await server.connect(new StdioServerTransport());
