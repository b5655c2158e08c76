import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { digest } from '../audit/canonical.js';
import { ConfigError, VerifyError, type VerifyIssue } from '../spec/errors.js';
import { readSource } from '../spec/source.js';
import type { Image } from '../spec/types.js';
import { type LinkedImage, verifyImage } from '../verifier/index.js';

/** An image read from a file, with what is needed to point at places in it. */
export interface ImageFile {
  path: string | null;
  data: unknown;
  digest: string;
  locate(at: string): string | undefined;
}

const IMAGE_NAMES = ['image.yaml', 'image.yml', 'image.json'];
const CONFIG_NAMES = ['mvm.yaml', 'mvm.yml', 'mvm.json'];

/**
 * What to say when no configuration was found beside an image: where it was looked for,
 * and, with `offer`, how to give one.
 */
export function noConfigHint(image: string, offer = true): string {
  const names = CONFIG_NAMES.join(', ').replace(/, ([^,]*)$/, ' or $1');
  const looked = `no configuration found: looked for ${names} in ${dirname(resolve(image))}`;
  return offer ? `${looked}; give one with --config FILE` : looked;
}

function firstIn(dir: string, names: string[]): string | undefined {
  return names.map((n) => join(dir, n)).find((p) => existsSync(p));
}

/**
 * Resolves what a user names: an image file, or a folder holding `image.yaml`; either way
 * with the host configuration `mvm.yaml` beside the image, when there is one.
 */
export function resolveTarget(target: string): { image: string; config: string | undefined } {
  const abs = resolve(target);
  if (!existsSync(abs)) {
    throw new ConfigError('not_found', `${target}: no such image file or folder`, { file: target });
  }
  if (statSync(abs).isDirectory()) {
    const image = firstIn(abs, IMAGE_NAMES);
    if (!image) {
      throw new ConfigError(
        'no_image',
        `${target}: the folder holds no ${IMAGE_NAMES.join(' or ')}`,
        {
          file: target,
        },
      );
    }
    return { image, config: firstIn(abs, CONFIG_NAMES) };
  }
  // An image file finds its configuration where a folder would: beside it.
  return { image: abs, config: firstIn(dirname(abs), CONFIG_NAMES) };
}

/**
 * Resolves what `mvm lock` is given: a host configuration file, a folder holding one, or
 * an image file or folder, whose configuration is the one beside the image, as `run` finds it.
 */
export function resolveConfigTarget(target: string): string {
  const abs = resolve(target);
  if (!existsSync(abs)) {
    throw new ConfigError('not_found', `${target}: no such configuration file or folder`, {
      file: target,
    });
  }
  const dir = statSync(abs).isDirectory() ? abs : dirname(abs);
  if (dir === abs || looksLikeImage(readSource(abs, 'host configuration').data)) {
    const config = firstIn(dir, CONFIG_NAMES);
    if (config) return config;
    throw new ConfigError(
      'no_config',
      `${target}: ${noConfigHint(join(dir, 'image.yaml'), false)}`,
      { file: target },
    );
  }
  return abs;
}

/** An image names its format's version; a configuration has no such key. */
function looksLikeImage(data: unknown): boolean {
  return data !== null && typeof data === 'object' && Object.hasOwn(data, 'mvm');
}

export function readImageFile(path: string): ImageFile {
  const src = readSource(resolve(path), 'image');
  return { path: src.path, data: src.data, digest: digest(src.data), locate: src.locate };
}

/** An image given as an object, by an application that keeps its agent in code. */
export function imageFromObject(image: Image | unknown): ImageFile {
  return { path: null, data: image, digest: digest(image), locate: () => undefined };
}

/** Issues with their file positions filled in, as `file:line:col: at: message`. */
export function describeIssues(file: ImageFile, issues: VerifyIssue[]): string[] {
  return issues.map((i) => {
    const pos = file.locate(i.at);
    const where = file.path ? `${file.path}${pos ? `:${pos}` : ''}` : 'image';
    return `${where}: ${i.at}: ${i.message} [${i.code}]`;
  });
}

/** Verifies an image file; throws VerifyError listing every issue. */
export function verifyFile(file: ImageFile): LinkedImage {
  const { issues, linked } = verifyImage(file.data);
  if (!linked) {
    const err = new VerifyError(issues, file.path ?? undefined);
    err.data.lines = describeIssues(file, issues);
    throw err;
  }
  return linked;
}
