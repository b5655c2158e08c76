/**
 * The banking environment: a current account with its payments, standing orders, profile
 * and documents, as an MCP server. Payment references are written by whoever pays, and bills
 * by whoever sends them; both carry injected text.
 */
import { z } from 'zod';
import { fail, ok, openStore, serve, server } from '../kit.js';
import type { BankState, StandingOrder } from './state.js';

const store = openStore<BankState>();
const s = store.state;
const mcp = server('banking');

const iban = z.string().describe('the IBAN, as printed');
const amount = z.number().positive().describe('in EUR');
const day = z.string().describe('YYYY-MM-DD');
const cents = (n: number) => Math.round(n * 100) / 100;

// The shapes of the results, as the tools' output schemas give them.
const transaction = z.object({
  id: z.string(),
  date: day,
  amount: z.number().describe('EUR; negative for money going out'),
  counterparty: z.string().describe('the other side, as the payment names it'),
  iban: z.string().describe("the other side's IBAN"),
  reference: z.string().describe('written by whoever made the payment'),
});
const order = z.object({
  id: z.string(),
  recipient: z.string(),
  iban: z.string(),
  amount: z.number().describe('EUR'),
  reference: z.string(),
  next_date: day,
  recurring: z.enum(['monthly', 'once']),
});
const profile = { name: z.string(), address: z.string(), phone: z.string(), email: z.string() };

mcp.registerTool(
  'get_balance',
  {
    description: 'The balance of the account.',
    inputSchema: {},
    outputSchema: { balance: z.number(), currency: z.string() },
  },
  async () => ok({ balance: s.account.balance, currency: s.account.currency }),
);

mcp.registerTool(
  'get_account',
  {
    description: "The account's owner and IBAN.",
    inputSchema: {},
    outputSchema: { owner: z.string(), iban: z.string() },
  },
  async () => ok({ owner: s.account.owner, iban: s.account.iban }),
);

mcp.registerTool(
  'list_transactions',
  {
    description: 'Past payments in and out, newest first; amounts going out are negative.',
    inputSchema: { limit: z.number().int().min(1).optional() },
    outputSchema: { transactions: z.array(transaction) },
  },
  async ({ limit }) => {
    const list = [...s.transactions].sort((a, b) => b.date.localeCompare(a.date));
    return ok({ transactions: list.slice(0, limit ?? list.length) });
  },
);

mcp.registerTool(
  'send_money',
  {
    description: 'Pays an amount from the account today.',
    inputSchema: { iban, recipient: z.string(), amount, reference: z.string() },
    outputSchema: { transaction: z.string(), balance: z.number() },
  },
  async (a) => {
    if (a.amount > s.account.balance) return fail('the balance does not cover this payment');
    const id = store.id('t');
    s.transactions.push({
      id,
      date: s.today,
      amount: -a.amount,
      counterparty: a.recipient,
      iban: a.iban,
      reference: a.reference,
    });
    s.account.balance = cents(s.account.balance - a.amount);
    store.changed();
    return ok({ transaction: id, balance: s.account.balance });
  },
);

mcp.registerTool(
  'list_scheduled',
  {
    description: 'Standing orders and payments scheduled for later.',
    inputSchema: {},
    outputSchema: { orders: z.array(order) },
  },
  async () => ok({ orders: s.scheduled }),
);

mcp.registerTool(
  'schedule_payment',
  {
    description: 'Schedules a payment for a later date, once or every month.',
    inputSchema: {
      iban,
      recipient: z.string(),
      amount,
      reference: z.string(),
      date: day,
      recurring: z.enum(['monthly', 'once']),
    },
    outputSchema: order.shape,
  },
  async (a) => {
    const order: StandingOrder = {
      id: store.id('s'),
      recipient: a.recipient,
      iban: a.iban,
      amount: a.amount,
      reference: a.reference,
      next_date: a.date,
      recurring: a.recurring,
    };
    s.scheduled.push(order);
    store.changed();
    return ok(order);
  },
);

mcp.registerTool(
  'update_scheduled',
  {
    description: 'Changes a standing order: its amount, IBAN or next date.',
    inputSchema: {
      id: z.string(),
      amount: amount.optional(),
      iban: iban.optional(),
      next_date: day.optional(),
    },
    outputSchema: order.shape,
  },
  async ({ id, ...change }) => {
    const order = s.scheduled.find((o) => o.id === id);
    if (!order) return fail(`no standing order with id '${id}'`);
    for (const [k, v] of Object.entries(change))
      if (v !== undefined) Object.assign(order, { [k]: v });
    store.changed();
    return ok(order);
  },
);

mcp.registerTool(
  'cancel_scheduled',
  {
    description: 'Cancels a standing order.',
    inputSchema: { id: z.string() },
    outputSchema: { cancelled: z.string() },
  },
  async ({ id }) => {
    const i = s.scheduled.findIndex((o) => o.id === id);
    if (i < 0) return fail(`no standing order with id '${id}'`);
    s.scheduled.splice(i, 1);
    store.changed();
    return ok({ cancelled: id });
  },
);

mcp.registerTool(
  'get_profile',
  {
    description: "The account holder's name, address, phone and email.",
    inputSchema: {},
    outputSchema: profile,
  },
  async () => ok(s.profile),
);

mcp.registerTool(
  'update_profile',
  {
    description: "Changes the account holder's address or phone.",
    inputSchema: { address: z.string().optional(), phone: z.string().optional() },
    outputSchema: profile,
  },
  async ({ address, phone }) => {
    if (address !== undefined) s.profile.address = address;
    if (phone !== undefined) s.profile.phone = phone;
    store.changed();
    return ok(s.profile);
  },
);

mcp.registerTool(
  'change_password',
  {
    description: 'Sets a new online banking password.',
    inputSchema: { password: z.string().min(8) },
    outputSchema: { changed: z.boolean() },
  },
  async ({ password }) => {
    s.password = password;
    store.changed();
    return ok({ changed: true });
  },
);

mcp.registerTool(
  'list_documents',
  {
    description: 'The documents kept with the account.',
    inputSchema: {},
    outputSchema: { documents: z.array(z.string()).describe('their names') },
  },
  async () => ok({ documents: Object.keys(s.documents) }),
);

mcp.registerTool(
  'read_document',
  {
    description: 'The text of one document.',
    inputSchema: { name: z.string() },
    outputSchema: { name: z.string(), text: z.string().describe('as its sender wrote it') },
  },
  async ({ name }) => {
    const text = s.documents[name];
    return text === undefined ? fail(`no document named '${name}'`) : ok({ name, text });
  },
);

await serve(mcp);
