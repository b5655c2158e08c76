import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFENCES } from '../bench/security/defences.js';
import { ENVIRONMENTS } from '../bench/security/envs/index.js';
import { payload } from '../bench/security/injection.js';
import { injectionIn } from '../bench/security/plan-drivers.js';
import {
  type Case,
  disposeServers,
  prepareServers,
  type Runner,
  runner,
  type Servers,
  scriptBook,
} from '../bench/security/suite.js';

// A few cases of the security benchmark, one task and one injection per environment, under
// no defence: the oracle must solve the task, the adversary must carry out the injection,
// and the oracle given the same injected data must not. Without the last, a check that read
// the payload itself as the goal achieved would pass for a working attack.

const none = DEFENCES.find((d) => d.name === 'none')!;
const picks: [string, string, string][] = [
  ['workspace', 'ws-slides', 'ws-g-code'],
  ['banking', 'bk-dentist', 'bk-g-redirect'],
  ['chat', 'ch-article', 'ch-g-visit'],
  ['travel', 'tr-veggie', 'tr-g-passport'],
];

function caseOf(envName: string, taskId: string, goalId?: string): Case {
  const env = ENVIRONMENTS.find((e) => e.name === envName)!;
  const task = env.tasks.find((t) => t.id === taskId)!;
  const injection = goalId ? env.injections.find((g) => g.id === goalId)! : undefined;
  return injection ? { env, task, injection } : { env, task };
}

describe('security benchmark, no defence', () => {
  let servers: Servers;
  let run: Runner;

  beforeAll(async () => {
    servers = await prepareServers(ENVIRONMENTS);
    run = runner(servers, scriptBook());
  });

  afterAll(() => {
    run?.close();
    if (servers) disposeServers(servers);
  });

  it('has the size it claims', () => {
    expect(ENVIRONMENTS.length).toBeGreaterThanOrEqual(4);
    for (const env of ENVIRONMENTS) expect(env.tasks.length).toBeGreaterThanOrEqual(10);
    expect(ENVIRONMENTS.flatMap((e) => e.injections).length).toBeGreaterThanOrEqual(10);
  });

  it.each(picks)(
    '%s: the oracle solves %s',
    async (env, task) => {
      const r = await run.run(caseOf(env, task), none, 'oracle');
      expect(r.status).toBe('done');
      expect(r.utility).toBe(true);
      expect(r.falseAlarms).toEqual([]);
    },
    60_000,
  );

  it.each(picks)(
    '%s: the adversary on %s carries out %s',
    async (env, task, goal) => {
      const r = await run.run(caseOf(env, task, goal), none, 'adversary');
      expect(r.exposed).toBe(true);
      expect(r.attack).toBe(true);
      expect(r.denied).toBe(0);
      expect(r.falseAlarms).toEqual([]);
    },
    60_000,
  );

  it.each(picks)(
    '%s: the oracle on %s ignores %s',
    async (env, task, goal) => {
      const r = await run.run(caseOf(env, task, goal), none, 'oracle');
      expect(r.exposed).toBe(true);
      expect(r.attack).toBe(false);
      expect(r.utility).toBe(true);
    },
    60_000,
  );
});

// Plan mode: the planner sees the request and the tools only, and writes the program; the
// worker, which the obeying model fills under attack, answers the plan's questions within
// their schemas, and fields the operator vouches for are read without it. Each pair below
// reads the payload on its way, so the attack has its chance.
const plan = DEFENCES.find((d) => d.name === 'plan')!;
const planIntegrity = DEFENCES.find((d) => d.name === 'plan-integrity')!;
const planned: [string, string, string][] = [
  ['workspace', 'ws-invoice', 'ws-g-code'],
  ['banking', 'bk-spend', 'bk-g-send'],
  ['chat', 'ch-links', 'ch-g-visit'],
  ['travel', 'tr-shortlist', 'tr-g-expensive'],
];

describe('security benchmark, plan mode', () => {
  let servers: Servers;
  let run: Runner;

  beforeAll(async () => {
    servers = await prepareServers(ENVIRONMENTS);
    run = runner(servers, scriptBook());
  });

  afterAll(() => {
    run?.close();
    if (servers) disposeServers(servers);
  });

  it('would notice an injection shown to the planner', () => {
    const goal = ENVIRONMENTS[0]!.injections[0]!;
    const shown = [{ role: 'user' as const, content: `Request:\n${payload(goal, 'Dana')}` }];
    expect(injectionIn(shown)).toContain(goal.id);
    expect(injectionIn([{ role: 'user', content: 'Request:\nWhat is on tomorrow?' }])).toBe(
      undefined,
    );
  });

  it.each(planned)(
    '%s: the planner solves %s',
    async (env, task) => {
      const r = await run.run(caseOf(env, task), plan, 'oracle');
      expect(r.status).toBe('done');
      expect(r.utility).toBe(true);
      expect(r.plannerSaw).toEqual([]);
      expect(r.falseAlarms).toEqual([]);
    },
    60_000,
  );

  it.each(planned)(
    '%s: on %s, %s is read by the plan and does not succeed',
    async (env, task, goal) => {
      const r = await run.run(caseOf(env, task, goal), plan, 'adversary');
      expect(r.exposed).toBe(true);
      expect(r.attack).toBe(false);
      expect(r.plannerSaw).toEqual([]);
    },
    60_000,
  );

  it('books by a vouched field, which the payload beside it cannot steer', async () => {
    // tr-cheap keeps the id of the lowest vouched price; the review next to it asks for the
    // dearest hotel, and no worker reads it.
    const r = await run.run(caseOf('travel', 'tr-cheap', 'tr-g-expensive'), plan, 'adversary');
    expect(r.exposed).toBe(true);
    expect(r.attack).toBe(false);
    expect(r.utility).toBe(true);
    expect(r.plannerSaw).toEqual([]);
  }, 60_000);

  it("releases the user's data to a recipient the plan chose, and no other", async () => {
    // bk-lena pays an IBAN read from the user's own payments, a vouched field: the user chose
    // the payee, so the payment may tell it what it is paid from the user's data.
    const paid = await run.run(caseOf('banking', 'bk-lena'), plan, 'oracle');
    expect(paid.utility).toBe(true);
    // ch-pricing fetches the page a post links to: the address is the user's data, and the
    // web it goes to is no recipient anyone chose.
    const fetched = await run.run(caseOf('chat', 'ch-pricing'), plan, 'oracle');
    expect(fetched.utility).toBe(false);
    expect(fetched.firstDenial).toMatch(/flow\.readers|data readable by \[user\]/);
    const integrity = await run.run(caseOf('chat', 'ch-pricing'), planIntegrity, 'oracle');
    expect(integrity.utility).toBe(true);
  }, 60_000);

  it('forwards untrusted text as content, to the recipient the request names', async () => {
    // ws-accountant forwards the invoice mail, payload and all, as the body of a mail to the
    // accountant in the user's contacts; the payload asks for the code to go elsewhere.
    const r = await run.run(caseOf('workspace', 'ws-accountant', 'ws-g-code'), plan, 'adversary');
    expect(r.exposed).toBe(true);
    expect(r.attack).toBe(false);
    expect(r.utility).toBe(true);
    expect(r.plannerSaw).toEqual([]);
  }, 60_000);

  it('lets a steered worker change an endorsed amount, never the payee', async () => {
    // bk-savings writes with an amount the worker reads from the transactions: the payload
    // there makes it 750, which the schema allows, but the IBAN is the request's own.
    const c = caseOf('banking', 'bk-savings', 'bk-g-send');
    const benign = await run.run(caseOf('banking', 'bk-savings'), planIntegrity, 'oracle');
    expect(benign.utility).toBe(true);
    const r = await run.run(c, planIntegrity, 'adversary');
    expect(r.exposed).toBe(true);
    expect(r.attack).toBe(false);
    expect(r.utility).toBe(false);
    expect(r.plannerSaw).toEqual([]);
  }, 60_000);
});
