/**
 * The workspace environment: one person's mailbox, calendar and contacts, as an MCP server.
 * Email bodies and calendar invites are written by other people; they carry injected text.
 */
import { z } from 'zod';
import { fail, mentions, ok, openStore, serve, server } from '../kit.js';
import type { CalendarEvent, Email, WorkspaceState } from './state.js';

const store = openStore<WorkspaceState>();
const s = store.state;
const mcp = server('workspace');

const newestFirst = (a: Email, b: Email) => b.date.localeCompare(a.date);
const time = z.string().describe('local time, YYYY-MM-DDTHH:MM');

// The shapes of the results, as the tools' output schemas give them.
const email = z.object({
  id: z.string(),
  from: z.string().describe('the sender, as the mail provider received it'),
  to: z.array(z.string()),
  cc: z.array(z.string()),
  subject: z.string(),
  body: z.string().describe('the text, as the sender wrote it'),
  date: z.string().describe('YYYY-MM-DD'),
  folder: z.enum(['inbox', 'sent']),
});
const event = z.object({
  id: z.string(),
  title: z.string(),
  start: time,
  end: time,
  location: z.string(),
  participants: z.array(z.string()).describe('email addresses'),
  organizer: z.string().describe('who sent the invitation, as the calendar received it'),
  description: z.string(),
});
const emails = { emails: z.array(email) };
const events = { events: z.array(event) };

mcp.registerTool(
  'get_current_date',
  {
    description: "Today's date, YYYY-MM-DD.",
    inputSchema: {},
    outputSchema: { today: z.string() },
  },
  async () => ok({ today: s.today }),
);

mcp.registerTool(
  'read_inbox',
  {
    description: 'The emails in the inbox, newest first, with their full text.',
    inputSchema: { limit: z.number().int().min(1).optional().describe('at most this many') },
    outputSchema: emails,
  },
  async ({ limit }) => {
    const inbox = s.emails.filter((e) => e.folder === 'inbox').sort(newestFirst);
    return ok({ emails: inbox.slice(0, limit ?? inbox.length) });
  },
);

mcp.registerTool(
  'search_emails',
  {
    description: 'Emails, received or sent, whose sender, subject or text mention the query.',
    inputSchema: { query: z.string() },
    outputSchema: emails,
  },
  async ({ query }) =>
    ok({
      emails: s.emails
        .filter((e) => mentions(`${e.from} ${e.subject} ${e.body}`, query))
        .sort(newestFirst),
    }),
);

mcp.registerTool(
  'send_email',
  {
    description: 'Sends an email from the user.',
    inputSchema: {
      to: z.array(z.string()).min(1).describe('recipient addresses'),
      subject: z.string(),
      body: z.string(),
      cc: z.array(z.string()).optional(),
    },
    outputSchema: { sent: z.string().describe("the sent email's id"), to: z.array(z.string()) },
  },
  async ({ to, subject, body, cc }) => {
    const email: Email = {
      id: store.id('e'),
      from: s.user.email,
      to,
      cc: cc ?? [],
      subject,
      body,
      date: s.today,
      folder: 'sent',
    };
    s.emails.push(email);
    store.changed();
    return ok({ sent: email.id, to });
  },
);

mcp.registerTool(
  'delete_email',
  {
    description: 'Deletes an email by its id.',
    inputSchema: { id: z.string() },
    outputSchema: { deleted: z.string() },
  },
  async ({ id }) => {
    const i = s.emails.findIndex((e) => e.id === id);
    if (i < 0) return fail(`no email with id '${id}'`);
    s.emails.splice(i, 1);
    store.changed();
    return ok({ deleted: id });
  },
);

mcp.registerTool(
  'list_events',
  {
    description: 'The calendar events on one day.',
    inputSchema: { date: z.string().describe('YYYY-MM-DD') },
    outputSchema: events,
  },
  async ({ date }) =>
    ok({
      events: s.events
        .filter((e) => e.start.startsWith(date))
        .sort((a, b) => a.start.localeCompare(b.start)),
    }),
);

mcp.registerTool(
  'search_events',
  {
    description: 'Calendar events whose title, place or description mention the query.',
    inputSchema: { query: z.string() },
    outputSchema: events,
  },
  async ({ query }) =>
    ok({
      events: s.events.filter((e) => mentions(`${e.title} ${e.location} ${e.description}`, query)),
    }),
);

mcp.registerTool(
  'create_event',
  {
    description: 'Adds an event to the calendar and invites its participants.',
    inputSchema: {
      title: z.string(),
      start: time,
      end: time,
      location: z.string().optional(),
      participants: z.array(z.string()).optional().describe('email addresses to invite'),
      description: z.string().optional(),
    },
    outputSchema: event.shape,
  },
  async (a) => {
    if (a.end <= a.start) return fail('the event must end after it starts');
    const event: CalendarEvent = {
      id: store.id('ev'),
      title: a.title,
      start: a.start,
      end: a.end,
      location: a.location ?? '',
      participants: [s.user.email, ...(a.participants ?? [])],
      organizer: s.user.email,
      description: a.description ?? '',
    };
    s.events.push(event);
    store.changed();
    return ok(event);
  },
);

mcp.registerTool(
  'reschedule_event',
  {
    description: 'Moves an event to a new start and end.',
    inputSchema: { id: z.string(), start: time, end: time },
    outputSchema: event.shape,
  },
  async ({ id, start, end }) => {
    const event = s.events.find((e) => e.id === id);
    if (!event) return fail(`no event with id '${id}'`);
    Object.assign(event, { start, end });
    store.changed();
    return ok(event);
  },
);

mcp.registerTool(
  'cancel_event',
  {
    description: 'Removes an event from the calendar.',
    inputSchema: { id: z.string() },
    outputSchema: { cancelled: z.string() },
  },
  async ({ id }) => {
    const i = s.events.findIndex((e) => e.id === id);
    if (i < 0) return fail(`no event with id '${id}'`);
    s.events.splice(i, 1);
    store.changed();
    return ok({ cancelled: id });
  },
);

mcp.registerTool(
  'search_contacts',
  {
    description: 'Contacts whose name or address mention the query; an empty query lists all.',
    inputSchema: { query: z.string() },
    outputSchema: {
      contacts: z.array(z.object({ name: z.string(), email: z.string(), phone: z.string() })),
    },
  },
  async ({ query }) =>
    ok({ contacts: s.contacts.filter((c) => mentions(`${c.name} ${c.email}`, query)) }),
);

await serve(mcp);
