import type { KeyObject } from 'node:crypto';
import type { Json } from '../spec/types.js';
import { digest } from './canonical.js';
import type { ChainProblem } from './chain.js';
import type { Manifest } from './manifest.js';
import { SignatureError, verifySignature } from './signing.js';

/**
 * What a manifest's signature says of a run: `verified` by one of the keys given,
 * `unchecked` (signed, but no key was given to check it against), `unsigned`, `failed`, or
 * `none` when there is no manifest. Only a verified signature authenticates a journal:
 * anyone can build a hash chain that verifies.
 */
export type SignatureState =
  | { state: 'verified'; key: string }
  | { state: 'unchecked'; key: string }
  | { state: 'unsigned' }
  | { state: 'failed'; key?: string }
  | { state: 'none' };

/**
 * Checks a manifest's signature against public keys. With keys given, an unsigned manifest
 * fails. Without, a signature is still held to the manifest's digest and form, and only
 * which key made it is left unchecked.
 *
 * ```ts
 * const { signature, problems } = checkManifestSignature(manifest, [loadPublicKey('host.pub')], 44);
 * ```
 */
export function checkManifestSignature(
  manifest: Manifest | null | undefined,
  keys: KeyObject[],
  seq: number,
): { signature: SignatureState; problems: ChainProblem[] } {
  if (!manifest) return { signature: { state: 'none' }, problems: [] };
  const problem = (message: string): ChainProblem[] => [
    { seq, code: 'manifest_signature', message: `manifest: ${message}` },
  ];
  if (!manifest.signature) {
    if (keys.length === 0) return { signature: { state: 'unsigned' }, problems: [] };
    return {
      signature: { state: 'unsigned' },
      problems: problem('not signed, and a public key was given to check its signature'),
    };
  }
  const { signature, ...unsigned } = manifest;
  const key = (signature as { key?: unknown }).key;
  try {
    const by = verifySignature(signature, digest(unsigned as unknown as Json), keys);
    return { signature: { state: 'verified', key: by }, problems: [] };
  } catch (e) {
    if (!(e instanceof SignatureError)) throw e;
    if (keys.length === 0 && e.code === 'untrusted_key' && typeof key === 'string') {
      return { signature: { state: 'unchecked', key }, problems: [] };
    }
    const failed: SignatureState =
      typeof key === 'string' ? { state: 'failed', key } : { state: 'failed' };
    return { signature: failed, problems: problem(e.message) };
  }
}
