/**
 * The team chat environment: channels, direct messages and the web pages people share, as
 * an MCP server. Messages from bots and outside partners, and the pages, carry injected text.
 */
import { z } from 'zod';
import { fail, ok, openStore, serve, server } from '../kit.js';
import type { Channel, ChatMessage, ChatState } from './state.js';

const store = openStore<ChatState>();
const s = store.state;
const mcp = server('chat');

const channelName = z.string().describe('the channel, without #');

// The shapes of the results, as the tools' output schemas give them.
const chatMessage = z.object({
  id: z.string(),
  author: z.string().describe("the author's handle, as the workspace knows them"),
  text: z.string().describe('as the author wrote it'),
  ts: z.string().describe('YYYY-MM-DDTHH:MM'),
});
const messages = { messages: z.array(chatMessage) };

function channel(name: string): Channel | string {
  const c = s.channels.find((x) => x.name === name.replace(/^#/, ''));
  if (!c) return `no channel '${name}'`;
  if (c.private && !c.members.includes(s.me)) return `#${c.name} is private`;
  return c;
}

function message(text: string): ChatMessage {
  return { id: store.id('m'), author: s.me, text, ts: s.now };
}

const known = (handle: string) => s.users.some((u) => u.handle === handle);

mcp.registerTool(
  'list_channels',
  {
    description: 'The channels the user can see, with their member counts.',
    inputSchema: {},
    outputSchema: {
      channels: z.array(z.object({ name: z.string(), private: z.boolean(), members: z.number() })),
    },
  },
  async () =>
    ok({
      channels: s.channels
        .filter((c) => !c.private || c.members.includes(s.me))
        .map((c) => ({ name: c.name, private: c.private, members: c.members.length })),
    }),
);

mcp.registerTool(
  'read_channel',
  {
    description: 'The messages of a channel, oldest first.',
    inputSchema: { channel: channelName },
    outputSchema: messages,
  },
  async (a) => {
    const c = channel(a.channel);
    return typeof c === 'string' ? fail(c) : ok({ messages: c.messages });
  },
);

mcp.registerTool(
  'list_members',
  {
    description: 'The members of a channel.',
    inputSchema: { channel: channelName },
    outputSchema: { members: z.array(z.string()).describe('handles') },
  },
  async (a) => {
    const c = channel(a.channel);
    return typeof c === 'string' ? fail(c) : ok({ members: c.members });
  },
);

mcp.registerTool(
  'list_users',
  {
    description: 'Everyone in the workspace, with handle, name and email.',
    inputSchema: {},
    outputSchema: {
      users: z.array(z.object({ handle: z.string(), name: z.string(), email: z.string() })),
    },
  },
  async () => ok({ users: s.users }),
);

mcp.registerTool(
  'post_message',
  {
    description: 'Posts a message to a channel as the user.',
    inputSchema: { channel: channelName, text: z.string().min(1) },
    outputSchema: { posted: z.string(), channel: z.string() },
  },
  async (a) => {
    const c = channel(a.channel);
    if (typeof c === 'string') return fail(c);
    const m = message(a.text);
    c.messages.push(m);
    store.changed();
    return ok({ posted: m.id, channel: c.name });
  },
);

mcp.registerTool(
  'read_dms',
  {
    description: "The user's direct conversations, by the other person's handle.",
    inputSchema: {},
    outputSchema: { dms: z.record(z.string(), z.array(chatMessage)) },
  },
  async () => ok({ dms: s.dms }),
);

mcp.registerTool(
  'send_dm',
  {
    description: 'Sends a direct message to someone in the workspace.',
    inputSchema: { user: z.string().describe('their handle'), text: z.string().min(1) },
    outputSchema: { sent: z.string(), to: z.string() },
  },
  async ({ user, text }) => {
    if (!known(user)) return fail(`no user '${user}'`);
    const m = message(text);
    const list = s.dms[user] ?? [];
    list.push(m);
    s.dms[user] = list;
    store.changed();
    return ok({ sent: m.id, to: user });
  },
);

mcp.registerTool(
  'invite_user',
  {
    description: 'Invites someone to the workspace; their handle is their first name in lowercase.',
    inputSchema: { name: z.string(), email: z.string() },
    outputSchema: { invited: z.string().describe('their handle') },
  },
  async ({ name, email }) => {
    const handle = name.split(' ')[0]!.toLowerCase();
    if (known(handle)) return fail(`the handle '${handle}' is taken`);
    s.users.push({ handle, name, email });
    store.changed();
    return ok({ invited: handle });
  },
);

for (const [tool, verb] of [
  ['add_to_channel', 'Adds'],
  ['remove_from_channel', 'Removes'],
] as const) {
  mcp.registerTool(
    tool,
    {
      description: `${verb} a workspace member ${verb === 'Adds' ? 'to' : 'from'} a channel.`,
      inputSchema: { user: z.string().describe('their handle'), channel: channelName },
      outputSchema: { channel: z.string(), members: z.array(z.string()) },
    },
    async (a) => {
      const c = channel(a.channel);
      if (typeof c === 'string') return fail(c);
      if (!known(a.user)) return fail(`no user '${a.user}'`);
      c.members = c.members.filter((m) => m !== a.user);
      if (verb === 'Adds') c.members.push(a.user);
      store.changed();
      return ok({ channel: c.name, members: c.members });
    },
  );
}

mcp.registerTool(
  'get_webpage',
  {
    description: 'Fetches a web page and returns its text.',
    inputSchema: { url: z.string() },
    outputSchema: { url: z.string(), text: z.string() },
  },
  async ({ url }) => {
    s.visited.push(url);
    store.changed();
    const page = s.pages[url];
    return page === undefined ? fail(`404: nothing at ${url}`) : ok({ url, text: page });
  },
);

await serve(mcp);
