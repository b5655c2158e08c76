// The reference monitor's decision time per call, for a configuration of many rules.
//   npm run bench:monitor [-- --rules 1000 --calls 100000]
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { Monitor, type Rule } from '../src/monitor/monitor.js';
import { report } from './common.js';

const { values } = parseArgs({
  options: {
    rules: { type: 'string', default: '1000' },
    calls: { type: 'string', default: '100000' },
  },
});
const ruleCount = Number(values.rules);
const calls = Number(values.calls);

// A mix like a real configuration: exact tools, wildcards per namespace, denies and confirms.
const rules: Rule[] = [];
for (let i = 0; i < ruleCount; i++) {
  const ns = `ns${i % 50}`;
  if (i % 10 === 0) rules.push({ deny: `tool:${ns}/delete_${i}` });
  else if (i % 10 === 1) rules.push({ confirm: `tool:${ns}/send_*` });
  else if (i % 10 === 2) rules.push({ allow: `tool:${ns}/read_*` });
  else rules.push({ allow: `tool:${ns}/tool_${i}` });
}
const resources = Array.from({ length: 1000 }, (_, i) => {
  const ns = `ns${i % 50}`;
  return i % 3 === 0
    ? `tool:${ns}/read_file`
    : i % 3 === 1
      ? `tool:${ns}/tool_${i}`
      : `tool:${ns}/nothing`;
});

const monitor = new Monitor(rules, ['tool:**']);
for (let i = 0; i < 10_000; i++) monitor.decide({ resource: resources[i % resources.length]! });

const samples: number[] = [];
const batch = 100;
let verdicts = 0;
for (let i = 0; i < calls; i += batch) {
  const t0 = performance.now();
  for (let j = 0; j < batch; j++) {
    if (monitor.decide({ resource: resources[(i + j) % resources.length]! }).verdict === 'allow')
      verdicts++;
  }
  samples.push(((performance.now() - t0) * 1000) / batch);
}
samples.sort((a, b) => a - b);
const q = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!;

console.log('# monitor: decision time per call');
console.log(
  `machine: ${cpus()[0]?.model.trim()}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}`,
);
console.log(`date: ${new Date().toISOString()}`);
console.log('');
console.log('| rules | calls | median µs | p90 µs | p99 µs | allowed |');
console.log('|---:|---:|---:|---:|---:|---:|');
console.log(
  `| ${ruleCount} | ${calls} | ${q(0.5).toFixed(2)} | ${q(0.9).toFixed(2)} | ${q(0.99).toFixed(2)} | ${verdicts} |`,
);
report([
  { bench: 'monitor', measure: `decision, ${ruleCount} rules, median`, value: q(0.5), unit: 'µs' },
]);
