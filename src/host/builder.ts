import { VerifyError } from '../spec/errors.js';
import type { Opcode } from '../spec/opcodes.js';
import type {
  Image,
  InputDecl,
  Instruction,
  InstructionOf,
  ModelSlotDecl,
  Procedure,
  ToolNamespaceDecl,
} from '../spec/types.js';
import { verifyImage } from '../verifier/verify.js';

type Operands<K extends Opcode> = Omit<InstructionOf<K>, 'op' | 'at'>;

/** Writes the instructions of one block; nested blocks are written by callbacks. */
export class BlockBuilder {
  readonly body: Instruction[] = [];

  /** Any instruction, its operands typed by the opcode table. */
  op<K extends Opcode>(op: K, operands: Operands<K>): this {
    this.body.push({ op, ...operands } as unknown as Instruction);
    return this;
  }

  if(cond: string, then: (b: BlockBuilder) => void, otherwise?: (b: BlockBuilder) => void): this {
    const t = new BlockBuilder();
    then(t);
    const ins: Operands<'if'> = { cond, then: t.body };
    if (otherwise) {
      const e = new BlockBuilder();
      otherwise(e);
      ins.else = e.body;
    }
    return this.op('if', ins);
  }

  loop(
    max: number,
    body: (b: BlockBuilder) => void,
    options: { while?: string; onLimit?: 'fail' | 'stop' } = {},
  ): this {
    const b = new BlockBuilder();
    body(b);
    return this.op('loop', { max, body: b.body, ...options });
  }

  foreach(src: string, as: string, body: (b: BlockBuilder) => void, index?: string): this {
    const b = new BlockBuilder();
    body(b);
    return this.op('foreach', index ? { src, as, index, body: b.body } : { src, as, body: b.body });
  }
}

/**
 * Writes an image from TypeScript, so an application can keep its agent in code and still
 * hand the machine a verifiable image.
 *
 * ```ts
 * const img = new ImageBuilder('hello')
 *   .permit('user')
 *   .procedure('main', [], (b) => b.op('data.const', { value: 'hi', dst: 'x' })
 *     .op('user.show', { src: 'x' }).op('halt', { src: 'x' }))
 *   .build();
 * ```
 */
export class ImageBuilder {
  private readonly image: Image;

  constructor(name: string, description?: string) {
    this.image = { mvm: 1, name, procedures: {} };
    if (description) this.image.description = description;
  }

  model(slot: string, decl: ModelSlotDecl = {}): this {
    this.image.models = { ...this.image.models, [slot]: decl };
    return this;
  }

  tools(ns: string, decl: ToolNamespaceDecl = {}): this {
    this.image.tools = { ...this.image.tools, [ns]: decl };
    return this;
  }

  permit(...patterns: string[]): this {
    this.image.permissions = [...(this.image.permissions ?? []), ...patterns];
    return this;
  }

  input(name: string, decl: InputDecl = {}): this {
    this.image.inputs = { ...this.image.inputs, [name]: decl };
    return this;
  }

  entry(name: string): this {
    this.image.entry = name;
    return this;
  }

  procedure(
    name: string,
    params: string[],
    body: (b: BlockBuilder) => void,
    options: { static?: string[]; description?: string } = {},
  ): this {
    const b = new BlockBuilder();
    body(b);
    const proc: Procedure = { params, body: b.body, ...options };
    this.image.procedures[name] = proc;
    return this;
  }

  /** The image as JSON, unverified. */
  toJSON(): Image {
    return structuredClone(this.image);
  }

  /** The image, verified; throws VerifyError with every issue. */
  build(): Image {
    const image = this.toJSON();
    const { issues } = verifyImage(image);
    if (issues.length > 0) throw new VerifyError(issues);
    return image;
  }
}
