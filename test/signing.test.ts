import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mvm } from './cli.js';

/** The bundled example, copied so that its image and configuration can be changed. */
function example() {
  const dir = mkdtempSync(join(tmpdir(), 'mvm-sign-'));
  cpSync(join(import.meta.dirname, '..', 'examples', 'notes'), join(dir, 'notes'), {
    recursive: true,
  });
  return { dir, notes: join(dir, 'notes'), image: join(dir, 'notes', 'image.yaml') };
}

describe('signed images', () => {
  it('signs, verifies, and tells an altered image and a foreign key apart', async () => {
    const { dir, notes, image } = example();
    expect((await mvm('keys', 'new', join(dir, 'keys', 'a'))).code).toBe(0);
    expect((await mvm('keys', 'new', join(dir, 'keys', 'b'))).code).toBe(0);
    expect((await mvm('keys', 'new', join(dir, 'keys', 'a'))).code).toBe(2);

    expect((await mvm('sign', notes, '--key', join(dir, 'keys', 'a.key'))).code).toBe(0);
    const ok = await mvm('verify', notes, '--pub', join(dir, 'keys', 'a.pub'));
    expect(ok.code).toBe(0);
    expect((await mvm('verify', notes, '--pub', join(dir, 'keys', 'b.pub'))).out).toContain(
      '[untrusted_key]',
    );

    writeFileSync(image, readFileSync(image, 'utf8').replace('max_turns: 8', 'max_turns: 9'));
    expect((await mvm('verify', notes, '--pub', join(dir, 'keys', 'a.pub'))).out).toContain(
      '[digest_mismatch]',
    );
  });

  it('refuses to run an image the configuration does not trust, before anything is written', async () => {
    const { dir, notes } = example();
    await mvm('keys', 'new', join(dir, 'k'));
    const config = join(notes, 'mvm.yaml');
    writeFileSync(
      config,
      `${readFileSync(config, 'utf8')}\ntrust:\n  images: [${join(dir, 'k.pub')}]\n`,
    );
    const store = join(dir, 'store');

    const unsigned = await mvm('run', notes, '--store', store);
    expect(unsigned.code).toBe(2);
    expect(unsigned.err).toContain('[unsigned_image]');
    expect((await mvm('runs', '--store', store, '--json')).out).toBe('[]');

    await mvm('sign', notes, '--key', join(dir, 'k.key'));
    const signed = await mvm('run', notes, '--store', store, '--json');
    expect(signed.code).toBe(0);

    // Changed after signing: refused before it is verified, and no run is stored.
    const image = join(notes, 'image.yaml');
    writeFileSync(image, readFileSync(image, 'utf8').replace('max_turns: 8', 'max_turns: 80'));
    const altered = await mvm('run', notes, '--store', store, '--json');
    expect(altered.code).toBe(2);
    expect(JSON.parse(altered.out).error).toMatchObject({ code: 'digest_mismatch' });
    expect(altered.err).toContain('the content changed since it was signed');
    const runs = JSON.parse((await mvm('runs', '--store', store, '--json')).out) as unknown[];
    expect(runs).toHaveLength(1);
  });
});

describe('signed manifests and exported runs', () => {
  it('verifies an exported run with only the public key, and sees a foreign signature or an edit', async () => {
    const { dir, notes } = example();
    await mvm('keys', 'new', join(dir, 'host'));
    await mvm('keys', 'new', join(dir, 'other'));
    const config = join(notes, 'mvm.yaml');
    writeFileSync(
      config,
      `${readFileSync(config, 'utf8')}\nmanifest:\n  signingKey: ${join(dir, 'host.key')}\n`,
    );
    const store = join(dir, 'store');
    const run = JSON.parse((await mvm('run', notes, '--store', store, '--json')).out) as {
      runId: string;
    };
    expect((await mvm('audit', 'verify', run.runId, '--store', store)).code).toBe(0);

    const file = join(dir, 'run.json');
    expect((await mvm('export', run.runId, file, '--store', store)).code).toBe(0);
    const good = await mvm('audit', 'verify', '--file', file, '--pub', join(dir, 'host.pub'));
    expect(good.code).toBe(0);
    expect(good.out).toContain('manifest signed by sha256:');
    const foreign = await mvm('audit', 'verify', '--file', file, '--pub', join(dir, 'other.pub'));
    expect(foreign.code).toBe(1);
    expect(foreign.out).toContain('[manifest_signature]');
    // The journal is whole; it is the signature that is not from a trusted key.
    expect(foreign.out).toContain(`${file}: journal verifies`);
    expect(foreign.out).toContain(`${file}: manifest signature does NOT verify`);
    const unchecked = await mvm('audit', 'verify', run.runId, '--store', store);
    expect(unchecked.out).toContain('manifest signed by sha256:');
    expect(unchecked.out).toContain(
      'NOT checked against a key (give --pub KEY): nothing authenticates the journal',
    );

    // A file that is not there, or not JSON, and a folder that is not there, are named.
    const missing = await mvm('audit', 'verify', '--file', join(dir, 'nope.json'));
    expect([missing.code, missing.err]).toEqual([2, expect.stringContaining('[bad_file]')]);
    writeFileSync(join(dir, 'text.json'), '{not json');
    const text = await mvm('audit', 'verify', '--file', join(dir, 'text.json'));
    expect(text.err).toContain('an exported run must be JSON');
    const nowhere = await mvm('export', run.runId, join(dir, 'no', 'x.json'), '--store', store);
    expect([nowhere.code, nowhere.err]).toEqual([2, expect.stringContaining('(ENOENT) [bad_out]')]);

    // A signature stripped off: the chain alone still verifies, but nobody vouches for it.
    const stripped = JSON.parse(readFileSync(file, 'utf8')) as {
      manifest: { signature?: unknown };
    };
    delete stripped.manifest.signature;
    const bare = join(dir, 'bare.json');
    writeFileSync(bare, JSON.stringify(stripped));
    const unsigned = await mvm('audit', 'verify', '--file', bare, '--pub', join(dir, 'host.pub'));
    expect(unsigned.code).toBe(1);
    expect(unsigned.out).toContain('not signed, and a public key was given');
    // Without a key, whether signed or not, the chain is checked and the output says that
    // nothing authenticates it, for an export as for a stored run.
    const bareNoKey = await mvm('audit', 'verify', '--file', bare);
    expect(bareNoKey.code).toBe(0);
    expect(bareNoKey.out).toContain(`${bare}: journal verifies`);
    expect(bareNoKey.out).toContain(
      `${bare}: manifest NOT signed: nothing authenticates the journal`,
    );
    const signedNoKey = await mvm('audit', 'verify', '--file', file);
    expect(signedNoKey.code).toBe(0);
    expect(signedNoKey.out).toMatch(
      /manifest signed by sha256:\S+, NOT checked against a key \(give --pub KEY\): nothing authenticates the journal$/m,
    );
    expect(JSON.parse((await mvm('audit', 'verify', '--file', file, '--json')).out)).toMatchObject({
      ok: true,
      signature: { state: 'unchecked', key: expect.stringMatching(/^sha256:/) },
    });

    const exported = JSON.parse(readFileSync(file, 'utf8')) as {
      entries: Array<{ data: unknown }>;
    };
    exported.entries[5]!.data = { edited: true };
    writeFileSync(file, JSON.stringify(exported));
    const edited = await mvm('audit', 'verify', '--file', file, '--pub', join(dir, 'host.pub'));
    expect(edited.code).toBe(1);
    expect(edited.out).toContain('entry 6');
  });
});
