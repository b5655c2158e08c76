import { existsSync, readFileSync } from 'node:fs';
import { loadPublicKey, SignatureError, verifySignature } from '../audit/signing.js';
import { anthropicFromBinding } from '../models/anthropic.js';
import type { ModelDriver } from '../models/driver.js';
import { ollamaFromBinding } from '../models/ollama.js';
import { openAICompatibleFromBinding } from '../models/openai-compatible.js';
import { openAIResponsesFromBinding } from '../models/openai-responses.js';
import { type ModelPin, PinnedDriver } from '../models/pin.js';
import { ReplayDriver } from '../models/replay.js';
import { Monitor } from '../monitor/monitor.js';
import { ConfigError, MvmError } from '../spec/errors.js';
import type { Image } from '../spec/types.js';
import type { HostFunction } from '../tools/host-functions.js';
import { type HostConfig, namespaceKey, own, placeIn } from './config.js';
import type { ImageFile } from './image-file.js';
import { lockPath, readLock } from './lock.js';
import { rootsOf } from './server-hooks.js';

export type DriverFactory = (
  binding: HostConfig['models'][string],
  config: HostConfig,
) => ModelDriver;

export const DRIVERS: Record<string, DriverFactory> = {
  replay: (b, c) => ReplayDriver.fromBinding(b, c.dir),
  'openai-compatible': (b) => openAICompatibleFromBinding(b, process.env),
  'openai-responses': (b) => openAIResponsesFromBinding(b, process.env),
  anthropic: (b) => anthropicFromBinding(b, process.env),
  ollama: (b) => ollamaFromBinding(b, process.env),
};

/** What a configuration binds an image with: its drivers, and its host functions. */
export interface BindContext {
  config: HostConfig;
  drivers: Record<string, DriverFactory>;
  functions: Record<string, Record<string, HostFunction>>;
}

/**
 * Binds a verified image to a configuration as far as that can be told without starting a
 * server or writing a run: a driver for every model slot, with the capabilities the image
 * needs and the provider its pin names; a mount for every tool namespace; roots the rules
 * grant; every permission the image requests granted by some rule. Every problem is
 * collected, in that order; the drivers are those that could be made.
 */
export function bindImage(
  image: Image,
  ctx: BindContext,
): { drivers: Map<string, ModelDriver>; problems: MvmError[] } {
  const { config } = ctx;
  const file = config.path;
  const problems: MvmError[] = [];
  const drivers = new Map<string, ModelDriver>();
  for (const slot of Object.keys(image.models ?? {})) {
    const at = `models.${slot}`;
    const binding = own(config.models, slot);
    if (!binding) {
      problems.push(
        new ConfigError(
          'unbound_slot',
          `${placeIn(config, at)}: the image needs model slot '${slot}'`,
          { file, slot },
        ),
      );
      continue;
    }
    const factory = own(ctx.drivers, binding.driver);
    if (!factory) {
      problems.push(
        new ConfigError(
          'unknown_driver',
          `${placeIn(config, `${at}.driver`)}: no driver '${binding.driver}' (known: ${Object.keys(ctx.drivers).join(', ')})`,
          { file, slot },
        ),
      );
      continue;
    }
    let driver: ModelDriver;
    try {
      driver = factory(binding, config);
    } catch (e) {
      // A binding the driver cannot make (a key not set, a replay file not there), said at
      // its place in the configuration.
      if (!(e instanceof MvmError)) throw e;
      const field = typeof e.data.field === 'string' ? `${at}.${e.data.field}` : at;
      e.message = `${placeIn(config, field)}: ${e.message}`;
      e.data.file ??= file;
      e.data.at ??= field;
      problems.push(e);
      continue;
    }
    const said = driver.describe();
    const caps = said.capabilities;
    const has: Record<string, boolean> = {
      tools: caps.tools,
      json_schema: caps.jsonSchema,
      streaming: caps.streaming,
      parallel_tool_calls: caps.parallelToolCalls,
    };
    const lacks = (image.models?.[slot]?.needs ?? []).filter((need) => !has[need]);
    for (const need of lacks) {
      problems.push(
        new ConfigError(
          'missing_capability',
          `${placeIn(config, at)}: the image needs '${need}', which ${said.driver} model '${said.model}' lacks`,
          { file, slot, need },
        ),
      );
    }
    const pin = binding.pin as ModelPin | undefined;
    if (pin?.provider !== undefined && pin.provider !== said.provider) {
      problems.push(
        new ConfigError(
          'model_mismatch',
          `${placeIn(config, `${at}.pin.provider`)}: the pin is provider '${pin.provider}', the binding's driver is provider '${said.provider}'`,
          { file, slot, provider: said.provider },
        ),
      );
      continue;
    }
    if (lacks.length === 0) drivers.set(slot, pin ? new PinnedDriver(driver, pin) : driver);
  }
  for (const ns of Object.keys(image.tools ?? {})) {
    const binding = own(config.tools, ns);
    const functions = own(ctx.functions, ns);
    // An entry may only describe a namespace of host functions: its labels, modes, recipients.
    if (binding && !functions && !('command' in binding) && !('url' in binding)) {
      problems.push(
        new ConfigError(
          'unmounted_namespace',
          `${placeIn(config, namespaceKey(config, ns))}: the namespace has no host functions, so it needs a command or a url`,
          { file, ns },
        ),
      );
    }
    if (!binding && !functions) {
      const mounted = Object.keys(config.tools);
      const block =
        (mounted.length > 0 && namespaceKey(config, mounted[0]!).split('.')[0]) || 'mcpServers';
      const others =
        mounted.length > 0 ? ` (it mounts ${mounted.map((m) => `'${m}'`).join(', ')})` : '';
      problems.push(
        new ConfigError(
          'unmounted_namespace',
          `${placeIn(config, block)}: the image needs tool namespace '${ns}'; mount it as ${block}.${ns}${others}`,
          { file, ns },
        ),
      );
    }
  }
  const monitor = new Monitor(config.rules, undefined, monitorOptions(config));
  // A server is told only of folders the rules let the run touch: roots follow the grants.
  for (const ns of Object.keys(image.tools ?? {})) {
    const roots = rootsOf(own(config.tools, ns)?.roots ?? [], config.dir);
    const outside = roots.filter((r) => !monitor.grants(`fs:${r.name}/**`));
    if (outside.length > 0) {
      problems.push(
        new ConfigError(
          'root_not_granted',
          `${placeIn(config, `${namespaceKey(config, ns)}.roots`)}: no rule grants any file under ${outside.map((r) => `'${r.name}'`).join(', ')}`,
          { file, ns, roots: outside.map((r) => r.name) },
        ),
      );
    }
  }
  const missing = (image.permissions ?? []).filter((p) => !monitor.grants(p));
  if (missing.length > 0) {
    problems.push(
      new ConfigError(
        'permission_not_granted',
        `${placeIn(config, 'rules')}: the image requests what no rule grants: ${missing.join(', ')}`,
        { file, missing },
      ),
    );
  }
  return { drivers, problems };
}

/** The monitor's options from a configuration: its flow rules and what it endorses. */
export function monitorOptions(config: HostConfig) {
  const { endorse, ...flow } = config.flow;
  return { flow, endorse };
}

/**
 * Refuses an image the configuration does not trust: when it lists trusted keys, one of
 * them must have signed the image (`IMAGE.sig` beside it), and the image must not have
 * changed since.
 */
export function checkSignature(file: ImageFile, config: HostConfig): void {
  const keys = config.trustedImageKeys;
  if (keys.length === 0) return;
  const where = file.path ?? 'the image';
  const sigPath = file.path ? `${file.path}.sig` : null;
  if (!sigPath || !existsSync(sigPath)) {
    throw new SignatureError(
      'unsigned_image',
      `${where}: not signed, and the host configuration requires a signature`,
      { file: file.path },
    );
  }
  let sig: unknown;
  try {
    sig = JSON.parse(readFileSync(sigPath, 'utf8'));
  } catch {
    throw new SignatureError('bad_signature_file', `${sigPath}: not JSON`, { file: sigPath });
  }
  try {
    verifySignature(sig, file.digest, keys.map(loadPublicKey));
  } catch (e) {
    if (e instanceof SignatureError) e.message = `${where}: ${e.message}`;
    throw e;
  }
}

/**
 * What `run` would refuse about an image file under a configuration before it stores
 * anything, short of its inputs: the image's signature where the configuration asks for
 * one, the binding, and a tool lock that cannot be read. Starts nothing and writes nothing.
 *
 * ```ts
 * for (const p of checkBinding(file, image, loadConfig('mvm.yaml'))) console.log(p.message);
 * ```
 */
export function checkBinding(
  file: ImageFile,
  image: Image,
  config: HostConfig,
  options: Partial<Omit<BindContext, 'config'>> = {},
): MvmError[] {
  const problems: MvmError[] = [];
  const caught = (f: () => void) => {
    try {
      f();
    } catch (e) {
      if (!(e instanceof MvmError)) throw e;
      problems.push(e);
    }
  };
  caught(() => checkSignature(file, config));
  const ctx = {
    config,
    drivers: { ...DRIVERS, ...options.drivers },
    functions: options.functions ?? {},
  };
  problems.push(...bindImage(image, ctx).problems);
  if (config.path) caught(() => readLock(lockPath(config.path!), config.path));
  return problems;
}
