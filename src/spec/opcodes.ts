/**
 * The instruction set of mvm, as one table. The image schema, the TypeScript instruction
 * types, the verifier's operand rules and docs/spec.md are derived from it. Each opcode's
 * `means` line is written in the notation of NOTATION below.
 */

/** The notation of the `means` lines, one symbol a line. */
export const NOTATION: ReadonlyArray<readonly [string, string]> = [
  ['r ← e', 'write the value of e into register r of the current frame'],
  ['⟦t⟧', 'the string template t with each {{reg}} or {{reg.path}} filled in'],
  ['L(x)', 'the label of value x'],
  ['⊔', 'join of labels: readers meet, integrity takes the lower'],
  ['ctx', 'the join of the labels of every value given to a model call'],
  ['pc', 'the join of the labels of the branch conditions and loop lists around'],
  ['⇝ m', 'the effect passes the reference monitor for resource m first'],
  ['J', 'journaled: the intent is appended before the effect, the outcome after'],
  ['[ … ]', 'a nested block of instructions'],
];

/** The kinds of operand, with what each one is. */
export const OPERAND_TYPES = {
  reg: 'a register that is read; it must be set on every path before',
  dst: 'a register that is written',
  regs: 'a list of registers that are read',
  slot: 'a model slot the image declares under models',
  ns: 'a tool namespace the image declares under tools',
  proc: 'a procedure of the image, or std.* from the standard library',
  json: 'any literal JSON value',
  schema: 'a literal JSON Schema',
  template: 'a string with {{reg}} or {{reg.path}} placeholders; each register named is read',
  string: 'a literal string',
  int: 'a literal integer',
  enum: 'one of the listed literal strings',
  block: 'a nested list of instructions',
  args: "an object from a procedure's parameter names to registers that are read",
  fields: 'an object from keys to registers that are read',
  static: "an object from a procedure's static parameter names to literal JSON",
} as const;

export type OperandType = keyof typeof OPERAND_TYPES;

export interface OperandSpec {
  readonly type: OperandType;
  readonly optional?: boolean;
  readonly values?: readonly string[];
  readonly doc: string;
}

export type Effect = 'none' | 'model' | 'tool' | 'memory' | 'user' | 'control';

export type Family = 'model' | 'parse' | 'tool' | 'memory' | 'user' | 'data' | 'control';

export interface OpcodeSpec {
  readonly family: Family;
  readonly means: string;
  readonly operands: Readonly<Record<string, OperandSpec>>;
  readonly effect: Effect;
  /** The resource the monitor is asked about, in the resource notation of docs/spec.md. */
  readonly permission: string | null;
  /** How the result is labelled. */
  readonly label: string;
  /** Operands of which at least one must be present. */
  readonly oneOf?: readonly string[];
}

function reg(doc: string): { type: 'reg'; doc: string };
function reg(doc: string, optional: true): { type: 'reg'; doc: string; optional: true };
function reg(doc: string, optional?: true): OperandSpec {
  return optional ? { type: 'reg', doc, optional } : { type: 'reg', doc };
}

function dst(doc: string): { type: 'dst'; doc: string };
function dst(doc: string, optional: true): { type: 'dst'; doc: string; optional: true };
function dst(doc: string, optional?: true): OperandSpec {
  return optional ? { type: 'dst', doc, optional } : { type: 'dst', doc };
}

export const OPCODES = {
  // model ────────────────────────────────────────────────────────────────────────────────
  'model.load': {
    family: 'model',
    means: 'resolve slot to its bound driver; check the capabilities the image declares; J',
    operands: { slot: { type: 'slot', doc: 'the model slot' } },
    effect: 'model',
    permission: 'model:<slot>',
    label: 'no result',
  },
  'model.unload': {
    family: 'model',
    means: 'release slot; a later model.call on it loads it again',
    operands: { slot: { type: 'slot', doc: 'the model slot' } },
    effect: 'none',
    permission: null,
    label: 'no result',
  },
  'model.call': {
    family: 'model',
    means: 'dst ← reply of slot to history, offering tools, ⇝ model:<slot>, J',
    operands: {
      slot: { type: 'slot', doc: 'the model slot' },
      history: reg('a history: a list of messages'),
      tools: { type: 'regs', optional: true, doc: 'tool lists from tool.load to offer' },
      schema: { type: 'schema', optional: true, doc: 'a JSON Schema the answer must meet' },
      dst: dst('the reply: {text, toolCalls, stop, usage}'),
    },
    effect: 'model',
    permission: 'model:<slot>',
    label: 'ctx',
  },
  'model.extract': {
    family: 'model',
    means: 'dst ← value meeting schema, from slot given ⟦instruction⟧ and input, no tools, J',
    operands: {
      slot: { type: 'slot', doc: 'the model slot' },
      instruction: { type: 'template', doc: 'what to extract' },
      input: reg('the data to extract from'),
      schema: { type: 'schema', doc: 'the JSON Schema the answer is forced into' },
      dst: dst('the extracted value'),
    },
    effect: 'model',
    permission: 'model:<slot>',
    label: 'L(input) ⊔ L(instruction); trusted when the host endorses the schema as narrow',
  },
  'model.plan': {
    family: 'model',
    means:
      'dst ← the output of a plan that slot writes for ⟦request⟧ over the tools offered, ' +
      'verified against the grants, then run; at most attempts tries, J',
    operands: {
      slot: { type: 'slot', doc: 'the privileged model slot that writes the plan' },
      request: { type: 'template', doc: 'the request; it must be trusted' },
      tools: { type: 'regs', doc: 'tool lists from tool.load the plan may call' },
      attempts: { type: 'int', doc: 'how many plans may be asked for before the run fails' },
      dst: dst("the value the plan's main procedure returns or halts with"),
    },
    effect: 'model',
    permission: 'model:<slot>',
    label: 'the label of what the plan returns',
  },
  // parse ────────────────────────────────────────────────────────────────────────────────
  'parse.text': {
    family: 'parse',
    means: 'dst ← the text of the reply src',
    operands: { src: reg('a model reply'), dst: dst('a string') },
    effect: 'none',
    permission: null,
    label: 'L(src)',
  },
  'parse.tool_calls': {
    family: 'parse',
    means: 'dst ← the tool calls of the reply src, arguments decoded; bad JSON marks the call',
    operands: { src: reg('a model reply'), dst: dst('a list of tool calls') },
    effect: 'none',
    permission: null,
    label: 'L(src)',
  },
  'parse.json': {
    family: 'parse',
    means: 'dst ← JSON decoded from the text of src, checked against schema; ok ← success',
    operands: {
      src: reg('a string or a model reply'),
      schema: { type: 'schema', optional: true, doc: 'a JSON Schema the value must meet' },
      dst: dst('the decoded value, or null when ok is given and decoding failed'),
      ok: dst('true when decoding succeeded; without it, failure traps', true),
    },
    effect: 'none',
    permission: null,
    label: 'L(src); a string read at a vouched place gives its places to the value decoded',
  },
  // tool ─────────────────────────────────────────────────────────────────────────────────
  'tool.load': {
    family: 'tool',
    means: 'connect ns, list and pin its tool definitions, J; dst ← the definitions',
    operands: {
      ns: { type: 'ns', doc: 'the tool namespace' },
      dst: dst('a tool list to offer a model', true),
    },
    effect: 'tool',
    permission: null,
    label: 'public, trusted (definitions are pinned by digest)',
  },
  'tool.unload': {
    family: 'tool',
    means: 'disconnect ns',
    operands: { ns: { type: 'ns', doc: 'the tool namespace' } },
    effect: 'tool',
    permission: null,
    label: 'no result',
  },
  'tool.call': {
    family: 'tool',
    means: 'dst ← result of the tool call, ⇝ tool:<ns>/<name>, J; denial and failure are results',
    operands: {
      call: reg('a tool call from parse.tool_calls', true),
      tool: { type: 'string', optional: true, doc: 'a literal tool name, ns/name' },
      args: reg('the arguments object, with tool', true),
      dst: dst('the result: {callId, name, ok, content, error?}'),
    },
    oneOf: ['call', 'tool'],
    effect: 'tool',
    permission: 'tool:<ns>/<name>',
    label:
      "L(call) ⊔ the label of the tool (its own, else its namespace's); a vouched field " +
      'L(call) ⊔ its own',
  },
  'resource.list': {
    family: 'tool',
    means: 'dst ← the resources and resource templates ns lists, every page, J',
    operands: {
      ns: { type: 'ns', doc: 'the tool namespace whose server offers resources' },
      dst: dst(
        '{resources: [{uri, name, title?, description?, mimeType?}], templates: [{uriTemplate, name, ...}]}',
      ),
    },
    effect: 'tool',
    permission: null,
    label: 'the label of the namespace (untrusted unless configured), sourced resource:<ns>',
  },
  'resource.read': {
    family: 'tool',
    means:
      'dst ← the contents of resource ⟦uri⟧ of ns, or of template expanded with args, ' +
      '⇝ resource:<ns>/<uri>, J; denial is a result',
    operands: {
      ns: { type: 'ns', doc: 'the tool namespace whose server offers resources' },
      uri: { type: 'template', optional: true, doc: 'the URI of the resource' },
      template: {
        type: 'string',
        optional: true,
        doc: 'a URI template the server lists (RFC 6570), as demo://items/{id}',
      },
      args: reg('an object of the template variables; each one it names is needed', true),
      dst: dst('{uri, ok, contents: [{uri, mimeType?, text? | blob?}], text, denied?}'),
    },
    oneOf: ['uri', 'template'],
    effect: 'tool',
    permission: 'resource:<ns>/<uri>',
    label: 'L(uri) ⊔ L(args) ⊔ the label of the namespace, sourced resource:<ns>/<uri>',
  },
  'prompt.list': {
    family: 'tool',
    means: 'dst ← the prompts ns lists, with their arguments, every page, J',
    operands: {
      ns: { type: 'ns', doc: 'the tool namespace whose server offers prompts' },
      dst: dst('[{name, title?, description?, arguments: [{name, description?, required?}]}]'),
    },
    effect: 'tool',
    permission: null,
    label: 'the label of the namespace (untrusted unless configured), sourced prompt:<ns>',
  },
  'prompt.get': {
    family: 'tool',
    means:
      'dst ← history (or none) + the messages of prompt ⟦name⟧ of ns given args, ' +
      '⇝ prompt:<ns>/<name>, J; denial traps',
    operands: {
      ns: { type: 'ns', doc: 'the tool namespace whose server offers prompts' },
      name: { type: 'template', doc: 'the name of the prompt' },
      args: reg('an object of the prompt arguments: strings, numbers or booleans', true),
      history: reg('a history the messages are appended to', true),
      dst: dst('a history'),
    },
    effect: 'tool',
    permission: 'prompt:<ns>/<name>',
    label:
      'L(history) ⊔ L(name) ⊔ L(args) ⊔ the label of the namespace, sourced prompt:<ns>/<name>',
  },
  // memory and history ───────────────────────────────────────────────────────────────────
  'mem.store': {
    family: 'memory',
    means: 'memory[⟦key⟧] ← src with its label, ⇝ mem:<key>, J',
    operands: { key: { type: 'template', doc: 'the key' }, src: reg('the value to store') },
    effect: 'memory',
    permission: 'mem:<key>',
    label: 'no result; the stored value keeps L(src) ⊔ L(⟦key⟧) ⊔ pc',
  },
  'mem.load': {
    family: 'memory',
    means: 'dst ← memory[⟦key⟧], or default when absent, ⇝ mem:<key>, J',
    operands: {
      key: { type: 'template', doc: 'the key' },
      default: { type: 'json', optional: true, doc: 'the value when the key is absent' },
      dst: dst('the value'),
    },
    effect: 'memory',
    permission: 'mem:<key>',
    label: 'the stored label ⊔ L(⟦key⟧)',
  },
  'history.new': {
    family: 'memory',
    means: 'dst ← a history holding one system message ⟦system⟧, or empty',
    operands: {
      system: { type: 'template', optional: true, doc: 'the system message' },
      dst: dst('the history'),
    },
    effect: 'none',
    permission: null,
    label: 'L(system)',
  },
  'history.append': {
    family: 'memory',
    means: 'history ← history + a message of role from src (text, a reply, or tool results)',
    operands: {
      history: reg('the history to extend in place'),
      role: { type: 'enum', values: ['user', 'assistant', 'tool'], doc: 'the role' },
      src: reg('the content'),
    },
    effect: 'none',
    permission: null,
    label: 'L(history) ⊔ L(src)',
  },
  // user ─────────────────────────────────────────────────────────────────────────────────
  'user.ask': {
    family: 'user',
    means: 'dst ← the user answer to ⟦prompt⟧, checked against schema, ⇝ user, J',
    operands: {
      prompt: { type: 'template', doc: 'the question' },
      schema: { type: 'schema', optional: true, doc: 'a JSON Schema the answer must meet' },
      dst: dst('the answer'),
    },
    effect: 'user',
    permission: 'user',
    label: 'readers of the run, trusted',
  },
  'user.show': {
    family: 'user',
    means: 'show src to the user, ⇝ user, J',
    operands: { src: reg('the value to show') },
    effect: 'user',
    permission: 'user',
    label: 'no result',
  },
  // data ─────────────────────────────────────────────────────────────────────────────────
  'data.const': {
    family: 'data',
    means: 'dst ← value',
    operands: { value: { type: 'json', doc: 'the constant' }, dst: dst('the register') },
    effect: 'none',
    permission: null,
    label: 'public, trusted',
  },
  'data.move': {
    family: 'data',
    means: 'dst ← src',
    operands: { src: reg('the source'), dst: dst('the register') },
    effect: 'none',
    permission: null,
    label: 'L(src)',
  },
  'data.get': {
    family: 'data',
    means: 'dst ← src.path, or null when absent',
    operands: {
      src: reg('an object or list'),
      path: { type: 'string', doc: 'dot-separated keys and indexes, as a.b.0' },
      dst: dst('the register'),
    },
    effect: 'none',
    permission: null,
    label: 'the label of the place path reaches in src: L(src) unless src holds vouched fields',
  },
  'data.template': {
    family: 'data',
    means: 'dst ← ⟦template⟧',
    operands: { template: { type: 'template', doc: 'the template' }, dst: dst('a string') },
    effect: 'none',
    permission: null,
    label: 'the join of the registers named, or of the places their paths reach',
  },
  'data.object': {
    family: 'data',
    means: 'dst ← { key: fields[key] … }',
    operands: {
      fields: { type: 'fields', doc: 'keys to registers' },
      dst: dst('an object'),
    },
    effect: 'none',
    permission: null,
    label: 'the join of the fields; each field keeps its own label inside',
  },
  'data.concat': {
    family: 'data',
    means: 'dst ← the lists srcs, one after another',
    operands: { srcs: { type: 'regs', doc: 'lists' }, dst: dst('a list') },
    effect: 'none',
    permission: null,
    label: 'the join of the lists',
  },
  'data.len': {
    family: 'data',
    means: 'dst ← the length of the list, string or object src',
    operands: { src: reg('a list, string or object'), dst: dst('a number') },
    effect: 'none',
    permission: null,
    label: 'L(src), or the form of a list or object holding vouched fields',
  },
  'data.compare': {
    family: 'data',
    means: 'dst ← a cmp (b or value)',
    operands: {
      a: reg('the left side'),
      cmp: { type: 'enum', values: ['eq', 'ne', 'lt', 'le', 'gt', 'ge'], doc: 'the comparison' },
      b: reg('the right side', true),
      value: { type: 'json', optional: true, doc: 'a literal right side' },
      dst: dst('a boolean'),
    },
    oneOf: ['b', 'value'],
    effect: 'none',
    permission: null,
    label: 'L(a) ⊔ L(b)',
  },
  // control ──────────────────────────────────────────────────────────────────────────────
  if: {
    family: 'control',
    means: 'if cond is truthy [then] else [else]',
    operands: {
      cond: reg('the condition'),
      then: { type: 'block', doc: 'run when truthy' },
      else: { type: 'block', optional: true, doc: 'run otherwise' },
    },
    effect: 'control',
    permission: null,
    label:
      'values written and effects decided in a branch carry L(cond); after it, so do the ' +
      'registers either branch may write, and the rest of the loop or procedure a branch ' +
      'may leave by break, continue or return',
  },
  loop: {
    family: 'control',
    means: 'repeat [body] while while is truthy, at most max times; past max, fail or stop',
    operands: {
      max: { type: 'int', doc: 'the bound on iterations' },
      while: reg('checked before each iteration; absent means always', true),
      onLimit: {
        type: 'enum',
        values: ['fail', 'stop'],
        optional: true,
        doc: 'what happens when the bound is reached: trap (default) or leave the loop',
      },
      body: { type: 'block', doc: 'the body' },
    },
    effect: 'control',
    permission: null,
    label:
      'the body runs under L(while) of every check so far; after the loop, the registers ' +
      'the body may write carry them',
  },
  foreach: {
    family: 'control',
    means: 'for each element of the list src, as ← element, index ← position; [body]',
    operands: {
      src: reg('a list'),
      as: dst('the element'),
      index: dst('the position', true),
      body: { type: 'block', doc: 'the body' },
    },
    effect: 'control',
    permission: null,
    label:
      'as ← L(src); values written and effects decided in the body carry L(src), and after ' +
      'the loop so do the registers the body may write',
  },
  break: {
    family: 'control',
    means: 'leave the innermost loop or foreach',
    operands: {},
    effect: 'control',
    permission: null,
    label: 'no result',
  },
  continue: {
    family: 'control',
    means: 'go to the next iteration of the innermost loop or foreach',
    operands: {},
    effect: 'control',
    permission: null,
    label: 'no result',
  },
  call: {
    family: 'control',
    means: 'dst ← the value proc returns, given args in a new frame',
    operands: {
      proc: { type: 'proc', doc: 'the procedure' },
      args: { type: 'args', optional: true, doc: 'parameters to registers' },
      static: { type: 'static', optional: true, doc: 'static parameters to literal values' },
      dst: dst('the returned value', true),
    },
    effect: 'control',
    permission: null,
    label: 'the label of the returned value',
  },
  return: {
    family: 'control',
    means: 'leave the procedure, giving src (or null) to the caller',
    operands: { src: reg('the value to return', true) },
    effect: 'control',
    permission: null,
    label: 'L(src) ⊔ the branches and loops it is made under',
  },
  halt: {
    family: 'control',
    means: 'end the run with status done and output src (or null)',
    operands: { src: reg('the output', true) },
    effect: 'control',
    permission: null,
    label: 'L(src) ⊔ the branches and loops it is made under',
  },
  fail: {
    family: 'control',
    means: 'end the run with status failed, code, and message ⟦message⟧',
    operands: {
      code: { type: 'string', optional: true, doc: 'a stable code; default "fail"' },
      message: { type: 'template', doc: 'the message' },
    },
    effect: 'control',
    permission: null,
    label: 'no result',
  },
} as const satisfies Record<string, OpcodeSpec>;

export type Opcode = keyof typeof OPCODES;

export const OPCODE_NAMES = Object.keys(OPCODES) as Opcode[];

export function isOpcode(name: unknown): name is Opcode {
  return typeof name === 'string' && Object.hasOwn(OPCODES, name);
}

/** The version of the image format this machine reads. */
export const IMAGE_FORMAT_VERSION = 1;
