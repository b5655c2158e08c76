import { NOTATION, OPCODE_NAMES, OPCODES, OPERAND_TYPES, type OperandSpec } from './opcodes.js';
import { VERIFY_CODES } from './verify-codes.js';

const FAMILY_TITLES: Record<string, string> = {
  model: 'Model',
  parse: 'Parse',
  tool: 'Tool, resource and prompt',
  memory: 'Memory and history',
  user: 'User',
  data: 'Data',
  control: 'Control',
};

const cell = (s: string) => s.replaceAll('|', '\\|');

/** docs/spec.md, generated from the opcode table; `npm run docs` writes it. */
export function specMarkdown(): string {
  const out: string[] = [];
  const w = (line = '') => out.push(line);

  w('# The mvm instruction set');
  w();
  w('This file is generated from `src/spec/opcodes.ts` by `npm run docs`; a test fails when it');
  w('is out of date. The image schema and the TypeScript instruction types come from the same');
  w('table.');
  w();
  w('## Images');
  w();
  w('An image is a JSON object (YAML that means the same JSON is read too):');
  w();
  w('| field | meaning |');
  w('| --- | --- |');
  w('| `mvm` | the format version, `1` |');
  w('| `name` | the image name; memory is kept per name |');
  w('| `models` | model slots the image needs: `{ slot: { needs: [tools, ...] } }` |');
  w('| `tools` | tool namespaces the image loads: `{ ns: { description } }` |');
  w(
    '| `permissions` | resource patterns the image requests; the verifier checks that every use is covered |',
  );
  w(
    '| `inputs` | the inputs, each `{ type, default }`; the entry procedure takes them as parameters |',
  );
  w('| `entry` | the procedure that runs first, `main` by default |');
  w('| `procedures` | `{ name: { params, static, body } }`; `body` is a list of instructions |');
  w();
  w('An instruction is an object with `op` and its operands. Procedures named `std.*` come from');
  w('the standard library (`stdlib/std.yaml`), written in this same instruction set. A');
  w('procedure may declare `static` parameters: a call binds them with literal values');
  w('(`static: { slot: main }`) and every operand written `$name` takes the value, so one');
  w('procedure serves many slots while the verifier still sees every slot and bound.');
  w();
  w('Resources are named like paths: `model:<slot>`, `tool:<ns>/<name>`, `mem:<key>`, `user`;');
  w("the files and URLs a tool call names are `fs:/abs/path` and `net:host/path`; a server's");
  w('resources are `resource:<ns>/<uri>` (the URI as sent, so `resource:docs/**` is every');
  w('resource of `docs`) and its prompts `prompt:<ns>/<name>`; what a server asks of the host');
  w('is `elicitation:<ns>` and `sampling:<ns>`. In a pattern, `*` matches within one segment');
  w('and `**` across segments. A resource URI holds no whitespace, control character, or `.`');
  w('or `..` segment (percent-encoded or not), so that its name means one thing.');
  w();
  w('## Notation');
  w();
  w('| symbol | meaning |');
  w('| --- | --- |');
  for (const [sym, meaning] of NOTATION) w(`| ${cell(sym)} | ${cell(meaning)} |`);
  w();
  w('## Operand types');
  w();
  w('| type | meaning |');
  w('| --- | --- |');
  for (const [t, meaning] of Object.entries(OPERAND_TYPES)) w(`| \`${t}\` | ${cell(meaning)} |`);
  w();
  w('## Opcodes');
  w();
  w('| opcode | family | means |');
  w('| --- | --- | --- |');
  for (const op of OPCODE_NAMES) {
    w(
      `| [\`${op}\`](#${op.replace('.', '')}) | ${OPCODES[op].family} | ${cell(OPCODES[op].means)} |`,
    );
  }
  for (const family of Object.keys(FAMILY_TITLES)) {
    w();
    w(`## ${FAMILY_TITLES[family]}`);
    for (const op of OPCODE_NAMES.filter((o) => OPCODES[o].family === family)) {
      const spec = OPCODES[op];
      w();
      w(`### ${op}`);
      w();
      w(spec.means);
      w();
      const operands = Object.entries(spec.operands) as [string, OperandSpec][];
      if (operands.length > 0) {
        w('| operand | type | required | meaning |');
        w('| --- | --- | --- | --- |');
        for (const [name, o] of operands) {
          const type = o.type === 'enum' ? `enum: ${(o.values ?? []).join(', ')}` : o.type;
          w(`| \`${name}\` | ${cell(type)} | ${o.optional ? 'no' : 'yes'} | ${cell(o.doc)} |`);
        }
        w();
      }
      if ('oneOf' in spec) w(`- needs one of: ${spec.oneOf.map((n) => `\`${n}\``).join(', ')}`);
      w(`- effect: ${spec.effect}`);
      w(`- monitor: ${spec.permission ? `\`${spec.permission}\`` : 'not consulted'}`);
      w(`- result label: ${spec.label}`);
    }
  }
  w();
  w('## Verifier issue codes');
  w();
  w('| code | meaning |');
  w('| --- | --- |');
  for (const [code, meaning] of Object.entries(VERIFY_CODES))
    w(`| \`${code}\` | ${cell(meaning)} |`);
  w();
  return out.join('\n');
}
