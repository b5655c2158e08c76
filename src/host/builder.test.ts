import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VerifyError } from '../spec/errors.js';
import { ImageBuilder } from './builder.js';
import { parseConfig } from './config.js';
import { Mvm } from './host.js';
import { imageFromObject } from './image-file.js';

describe('the image builder', () => {
  it('writes a verifiable image from code that the machine runs', async () => {
    const image = new ImageBuilder('count')
      .permit('user')
      .input('items', { type: 'array' })
      .procedure('main', ['items'], (b) =>
        b
          .op('data.const', { value: 0, dst: 'big' })
          .foreach('items', 'item', (f) =>
            f
              .op('data.compare', { a: 'item', cmp: 'gt', value: 10, dst: 'is_big' })
              .if('is_big', (t) =>
                t
                  .op('data.template', { template: 'big: {{item}}', dst: 'msg' })
                  .op('user.show', { src: 'msg' }),
              ),
          )
          .op('data.len', { src: 'items', dst: 'n' })
          .op('halt', { src: 'n' }),
      )
      .build();

    const mvm = new Mvm({
      config: parseConfig({ rules: [{ allow: 'user' }] }, { path: null, dir: process.cwd() }),
      storeDir: mkdtempSync(join(tmpdir(), 'mvm-builder-')),
    });
    const shown: unknown[] = [];
    const result = await mvm.run(imageFromObject(image), {
      inputs: { items: [3, 12, 40] },
      events: (e) => {
        if (e.type === 'user.show') shown.push(e.value.data);
      },
    });
    mvm.close();
    expect(result).toMatchObject({ status: 'done', output: 3 });
    expect(shown).toEqual(['big: 12', 'big: 40']);
  });

  it('refuses to build an image the verifier rejects, with every issue', () => {
    const b = new ImageBuilder('bad').procedure('main', [], (p) =>
      p.op('user.show', { src: 'nothing' }).loop(0, () => {}),
    );
    try {
      b.build();
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(VerifyError);
      expect((e as VerifyError).issues.map((i) => i.code)).toEqual([
        'undefined_register',
        'permission_not_requested',
        'unbounded_loop',
      ]);
    }
  });
});
