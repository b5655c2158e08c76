// An MCP server whose `read_message` returns a message as structured content (who sent it,
// written by the provider; the body, written by whoever sent the message) and, as its text
// block, the body alone, as a reader shows it. The sender controls the body only.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const body = process.env.MAIL_BODY ?? 'hello';
const server = new McpServer({ name: 'body-text-mail', version: '1.0.0' });
server.registerTool(
  'read_message',
  {
    description: 'reads the latest message',
    outputSchema: { from: z.string(), body: z.string() },
  },
  async () => ({
    content: [{ type: 'text', text: body }],
    structuredContent: { from: 'boss@corp.test', body },
  }),
);
await server.connect(new StdioServerTransport());
