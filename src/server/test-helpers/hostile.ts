import { buildManifest } from '../../audit/manifest.js';
import type { Json } from '../../spec/types.js';
import type { RunStore } from '../../store/store.js';

/**
 * A run whose journal is made to attack the page that shows it: markup, script and quotes
 * in every place content reaches (names, arguments, results, replies, rules, labels). Each
 * script, were it to run, sets `window.pwned`.
 */
export const SCRIPT = (n: number) => `<script>window.pwned=${n}</script>`;

export function hostileRun(store: RunStore): string {
  const run = store.createRun({
    imageName: `</title>${SCRIPT(1)}`,
    imageDigest: 'sha256:0',
    configPath: null,
  });
  const j = store.journal(run.id);
  const at = `procedures.main.body[0]"><b>${SCRIPT(2)}`;
  const untrusted: Json = {
    integrity: 'untrusted',
    readers: ['<i>ann</i>', '"><img src=x onerror=window.pwned=3>'],
    sources: [`tool:evil/x#"><svg onload="window.pwned=4">`],
  };
  j.append('run.start', {
    image: { name: '<img src=x onerror=window.pwned=5>', digest: 'sha256:0', path: null },
    config: { path: null, digest: '' },
    inputs: { question: `</pre>${SCRIPT(6)}` },
    budgets: { steps: 10, '<u>x</u>': 1 },
  });
  j.append(
    'decision',
    {
      resource: `model:main${SCRIPT(7)}`,
      verdict: 'allow',
      rule: `</code>${SCRIPT(8)}`,
      reason: "it's <fine>",
      context: untrusted,
    },
    at,
  );
  j.append('model.load', { slot: 'main', driver: '<d>', provider: '<p>', model: '<m>' }, at);
  j.append('model.intent', { slot: 'main', n: 1, messages: 2, tools: [SCRIPT(9)] }, at);
  j.append(
    'model.reply',
    {
      slot: 'main',
      n: 1,
      ms: 1,
      label: untrusted,
      reply: {
        text: `Sure. ${SCRIPT(10)}`,
        stop: 'tool_calls',
        usage: { inputTokens: 5, outputTokens: 7 },
        toolCalls: [{ id: 'c1', name: `evil/<x>`, arguments: `{"p":"</script>${SCRIPT(11)}"}` }],
      },
    },
    at,
  );
  j.append(
    'decision',
    {
      resource: 'tool:evil/<x>',
      verdict: 'deny" onmouseover="window.pwned=12',
      rule: null,
      reason: SCRIPT(13),
      context: untrusted,
    },
    at,
  );
  j.append('tool.intent', { callId: 'c1', name: 'evil/<x>', args: { p: SCRIPT(14) } }, at);
  j.append(
    'tool.result',
    {
      callId: 'c1',
      name: 'evil/<x>',
      content: SCRIPT(15),
      isError: false,
      ms: 2,
      label: untrusted,
    },
    at,
  );
  j.append(
    'user.show',
    { data: '<iframe src="javascript:window.pwned=16">', label: untrusted },
    at,
  );
  j.append('run.end', {
    status: 'done',
    output: SCRIPT(17),
    error: null,
    used: { steps: 3 },
    label: untrusted,
  });
  j.flush();
  store.finishRun(run.id, 'done', SCRIPT(17), null);
  store.saveManifest(run.id, buildManifest(run.id, store.entries(run.id)) as unknown as Json);
  return run.id;
}
