import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { MvmError } from '../spec/errors.js';
import { sha256 } from './canonical.js';

/**
 * Ed25519 keys and detached signatures over digests, through node:crypto. A signature file
 * names the digest it signs and the fingerprint of the key, so a verifier can say which key
 * signed what, and why a check fails.
 *
 * ```ts
 * const { privatePath } = newKeyPair('.mvm/keys/host');
 * const sig = signDigest(digest(image), loadPrivateKey(privatePath));
 * verifySignature(sig, digest(image), [loadPublicKey('.mvm/keys/host.pub')]); // ok
 * ```
 */

export interface Signature {
  mvmSignature: 1;
  alg: 'ed25519';
  /** `sha256:` fingerprint of the public key that signed. */
  key: string;
  /** The digest signed, as `sha256:…`. */
  digest: string;
  signature: string;
}

export class SignatureError extends MvmError {
  constructor(code: string, message: string, data: Record<string, unknown> = {}) {
    super('verify', code, message, data);
  }
}

export function fingerprint(key: KeyObject): string {
  const pub = key.type === 'public' ? key : createPublicKey(key);
  const spki = pub.export({ type: 'spki', format: 'der' });
  return `sha256:${sha256(spki.toString('base64'))}`;
}

/** Writes `<base>.key` (private, readable by its owner only) and `<base>.pub`. */
export function newKeyPair(base: string): { privatePath: string; publicPath: string; key: string } {
  const privatePath = `${base}.key`;
  const publicPath = `${base}.pub`;
  if (existsSync(privatePath)) {
    throw new SignatureError('key_exists', `${privatePath} exists; refusing to overwrite a key`, {
      file: privatePath,
    });
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(privatePath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  chmodSync(privatePath, 0o600);
  writeFileSync(publicPath, publicKey.export({ type: 'spki', format: 'pem' }));
  return { privatePath, publicPath, key: fingerprint(publicKey) };
}

function readKey(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new SignatureError(
      'key_unreadable',
      `${path}: cannot read the ${what}: ${(e as Error).message}`,
      {
        file: path,
      },
    );
  }
}

export function loadPrivateKey(path: string): KeyObject {
  try {
    return createPrivateKey(readKey(path, 'private key'));
  } catch (e) {
    if (e instanceof SignatureError) throw e;
    throw new SignatureError('bad_key', `${path}: not a private key`, { file: path });
  }
}

export function loadPublicKey(path: string): KeyObject {
  try {
    return createPublicKey(readKey(path, 'public key'));
  } catch (e) {
    if (e instanceof SignatureError) throw e;
    throw new SignatureError('bad_key', `${path}: not a public key`, { file: path });
  }
}

export function signDigest(digest: string, key: KeyObject): Signature {
  return {
    mvmSignature: 1,
    alg: 'ed25519',
    key: fingerprint(key),
    digest,
    signature: sign(null, Buffer.from(digest, 'utf8'), key).toString('base64'),
  };
}

/**
 * Checks that `sig` signs `digest` with one of `keys`; throws SignatureError saying why not:
 * a different digest (the content changed), a key not among those trusted, or a signature
 * that does not verify.
 */
export function verifySignature(sig: unknown, digest: string, keys: KeyObject[]): string {
  const s = sig as Partial<Signature> | null;
  if (s?.mvmSignature !== 1 || s.alg !== 'ed25519' || typeof s.signature !== 'string') {
    throw new SignatureError('bad_signature_file', 'not an mvm signature');
  }
  if (s.digest !== digest) {
    throw new SignatureError(
      'digest_mismatch',
      `the content changed since it was signed (signed ${String(s.digest).slice(0, 19)}…, now ${digest.slice(0, 19)}…)`,
      {
        signed: s.digest,
        found: digest,
      },
    );
  }
  const key = keys.find((k) => fingerprint(k) === s.key);
  if (!key) {
    throw new SignatureError(
      'untrusted_key',
      `signed by key ${String(s.key).slice(0, 19)}…, which is not trusted here`,
      {
        key: s.key,
      },
    );
  }
  if (!verify(null, Buffer.from(digest, 'utf8'), key, Buffer.from(s.signature, 'base64'))) {
    throw new SignatureError('bad_signature', 'the signature does not verify', { key: s.key });
  }
  return s.key!;
}
