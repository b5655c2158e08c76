import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { Command, CommanderError, Option } from 'commander';
import { exportRun, verifyExport } from '../audit/export.js';
import type { Manifest } from '../audit/manifest.js';
import type { SignatureState } from '../audit/manifest-signature.js';
import {
  loadPrivateKey,
  loadPublicKey,
  newKeyPair,
  SignatureError,
  signDigest,
  verifySignature,
} from '../audit/signing.js';
import {
  type Answer,
  answerFromText,
  approveFile as approveFile_,
  describeHints,
  describePending,
} from '../host/answers.js';
import { checkBinding } from '../host/bind.js';
import { storeFlag } from '../host/command-line.js';
import type { HostConfig } from '../host/config.js';
import { loadConfig, parseConfig } from '../host/config.js';
import { type LockStatus, Mvm, type RunResult } from '../host/host.js';
import {
  describeIssues,
  noConfigHint,
  readImageFile,
  resolveConfigTarget,
  resolveTarget,
} from '../host/image-file.js';
import type { MachineEvent } from '../interpreter/effects.js';
import { type ConfirmRequest, type UserChannel, WAIT } from '../interpreter/people.js';
import { writeReport } from '../server/report.js';
import { ConfigError, MvmError, VerifyError } from '../spec/errors.js';
import type { Image, Json, JsonSchema } from '../spec/types.js';
import { DEFAULT_STORE, RunStore } from '../store/store.js';
import { verifyImage } from '../verifier/index.js';
import { type EvalFlags, evalCommand } from './eval.js';
import { explainCommand } from './explain.js';
import { progressLine } from './progress.js';
import { type ServeFlags, serveCommand } from './serve.js';

/** Where the CLI writes; the tests pass their own. */
export interface Console {
  out(text: string): void;
  err(text: string): void;
}

const stdio: Console = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
};

const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

/** Exit codes: 0 done, 1 the run failed, 2 bad invocation or bad input, 3 the run waits. */
export const EXIT = { done: 0, failed: 1, usage: 2, waiting: 3, interrupted: 4 } as const;

function show(data: Json): string {
  return typeof data === 'string' ? data : JSON.stringify(data, null, 2);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parseInputs(pairs: string[], image: Image): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new MvmError('config', 'bad_input', `--input '${pair}': expected KEY=VALUE`);
    const key = pair.slice(0, eq);
    const raw = pair.slice(eq + 1);
    const type = image.inputs?.[key]?.type;
    if (type === undefined || type === 'string') {
      out[key] = raw;
      continue;
    }
    try {
      out[key] = JSON.parse(raw) as Json;
    } catch {
      throw new MvmError('config', 'bad_input', `--input ${key}: expected JSON (${type})`);
    }
  }
  return out;
}

/**
 * A machine over a configuration and a store. A command that reads runs already there says
 * `mustExist`: a mistyped `--store` is then an error, not a new empty store.
 */
function openMvm(
  configPath: string | undefined,
  storeDir: string | undefined,
  mustExist = false,
): Mvm {
  const config: HostConfig = configPath
    ? loadConfig(configPath)
    : parseConfig({}, { path: null, dir: process.cwd() });
  if (mustExist) {
    const dir = resolve(storeDir ?? DEFAULT_STORE);
    if (!RunStore.exists(dir)) {
      throw new ConfigError('no_store', `no store at ${dir}: no run has been kept there`, {
        store: dir,
      });
    }
  }
  return new Mvm({ config, storeDir });
}

/** On a terminal, questions and confirmations are asked there; elsewhere the run waits. */
function terminalUser(
  con: Console,
  approveFile?: string,
  signal?: AbortSignal,
): Partial<UserChannel> {
  const ahead = approveFile ? approveFile_(approveFile) : undefined;
  if (!process.stdin.isTTY) return ahead ?? {};
  // End of input or an interrupt at a prompt, typed or sent, leaves the run waiting rather
  // than failing it.
  const prompt = async (question: string): Promise<string | typeof WAIT> => {
    if (signal?.aborted) return WAIT;
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await rl.question(question, signal ? { signal } : {});
    } catch {
      return WAIT;
    } finally {
      rl.close();
    }
  };
  return {
    async ask(text: string, schema?: JsonSchema) {
      const typed = await prompt(`${text}${schema ? ` (${JSON.stringify(schema)})` : ''}\n> `);
      if (typed === WAIT) return WAIT;
      return answerFromText(typed, schema);
    },
    async confirm(request: ConfirmRequest) {
      const given = ahead ? await ahead.confirm(request) : WAIT;
      if (given !== WAIT) return given;
      con.err(`\nconfirm ${request.tool} (${request.resource})`);
      con.err(`  arguments: ${JSON.stringify(request.args)}`);
      if (request.touches?.length) con.err(`  touches: ${request.touches.join(', ')}`);
      const hints = describeHints(request.hints);
      if (hints) con.err(`  the server says: ${hints} (its own claim, not checked)`);
      con.err(`  asked by: ${request.rule ?? 'the machine'}: ${request.reason}`);
      for (;;) {
        const typed = await prompt('allow? [y]es, [n]o, [a]lways for this run, [w]ait: ');
        if (typed === WAIT) return WAIT;
        const a = typed.trim();
        if (a === 'y' || a === 'yes') return { verdict: 'approve' };
        if (a === 'a' || a === 'always') return { verdict: 'always' };
        if (a === 'n' || a === 'no') {
          const typed = await prompt('reason (optional): ');
          const reason = typed === WAIT ? '' : typed.trim();
          return reason ? { verdict: 'deny', reason } : { verdict: 'deny' };
        }
        if (a === 'w' || a === 'wait') return WAIT;
      }
    },
  };
}

function report(
  result: RunResult,
  mvm: Mvm,
  opts: { json?: boolean; store?: string },
  con: Console,
  shown: Json[],
) {
  if (opts.json) {
    con.out(
      JSON.stringify({
        runId: result.runId,
        status: result.status,
        output: result.output,
        error: result.error,
        pending: result.pending,
        manifest: result.manifestPath,
        journal: { store: mvm.store.dir, ...result.journal },
      }),
    );
  } else {
    const already = shown.some((s) => JSON.stringify(s) === JSON.stringify(result.output));
    if (result.output !== null && !already) con.out(show(result.output));
    if (result.error) {
      con.err(`error: ${String(result.error.message)} [${String(result.error.code)}]`);
    }
    con.out('');
    con.out(`run ${result.runId}: ${result.status}`);
    for (const p of result.pending) con.out(`  waiting on ${describePending(p)}`);
    if (result.pending.length > 0) {
      const id = result.pending[0]!.id;
      const how =
        result.pending[0]!.kind === 'question' ? `--answer ${id}=VALUE` : `--approve ${id}`;
      con.out(`  resume with: mvm resume ${result.runId} ${how}${storeFlag(mvm.store.dir)}`);
    }
    if (result.status === 'interrupted') {
      const go = `mvm resume ${result.runId}${storeFlag(mvm.store.dir)}`;
      con.out(`  stopped before its end; go on with: ${go}`);
    }
    con.out(
      `journal: ${mvm.store.dir}/mvm.db (${result.journal.count} entries, head ${result.journal.head.slice(0, 16)})`,
    );
    con.out(`manifest: ${result.manifestPath}`);
  }
  return EXIT[result.status];
}

function printShown(opts: { json?: boolean }, con: Console, shown: Json[]) {
  // Progress and model text as it streams, on a terminal only: piped output and --json stay
  // clean.
  const live = !opts.json && process.stderr.isTTY === true;
  const progress = live
    ? progressLine((t) => process.stderr.write(t), { columns: () => process.stderr.columns })
    : undefined;
  return (e: MachineEvent) => {
    progress?.(e);
    if (e.type !== 'user.show') return;
    shown.push(e.value.data);
    if (!opts.json) con.out(show(e.value.data));
  };
}

async function runCommand(target: string, opts: RunFlags, con: Console): Promise<number> {
  const { image: imagePath, config: foundConfig } = resolveTarget(target);
  const file = readImageFile(imagePath);
  const mvm = openMvm(opts.config ?? foundConfig, opts.store);
  const shown: Json[] = [];
  const stop = interruptible();
  try {
    const inputs = parseInputs(opts.input, (file.data ?? {}) as Image);
    const result = await mvm.run(file, {
      inputs,
      signal: stop.signal,
      user: terminalUser(con, opts.approveFile, stop.signal),
      events: printShown(opts, con, shown),
      ...(opts.record ? { record: opts.record } : {}),
    });
    return report(result, mvm, opts, con, shown);
  } catch (e) {
    // Bound to no configuration at all, say where one was looked for.
    const unbound = e instanceof ConfigError && BINDING_CODES.has(e.code);
    if (unbound && !(opts.config ?? foundConfig)) e.data.hint = noConfigHint(imagePath);
    throw e;
  } finally {
    stop.done();
    mvm.close();
  }
}

/** What a configuration that binds nothing would be refused for. */
const BINDING_CODES = new Set(['unbound_slot', 'unmounted_namespace', 'permission_not_granted']);

/**
 * The first SIGINT or SIGTERM interrupts the run, so that it stops with its servers closed
 * and its journal and manifest written, resumable; a second one ends the process at once.
 */
function interruptible() {
  const controller = new AbortController();
  const cancel = () => controller.abort();
  process.once('SIGINT', cancel);
  process.once('SIGTERM', cancel);
  return {
    signal: controller.signal,
    done() {
      process.off('SIGINT', cancel);
      process.off('SIGTERM', cancel);
    },
  };
}

interface ResumeFlags {
  approve: string[];
  deny: string[];
  always: string[];
  answer: string[];
  reason?: string;
  config?: string;
  approveFile?: string;
  json?: boolean;
  store?: string;
}

function answersOf(opts: ResumeFlags): Answer[] {
  const out: Answer[] = [];
  for (const id of opts.approve) out.push({ id, verdict: 'approve' });
  for (const id of opts.always) out.push({ id, verdict: 'always' });
  for (const id of opts.deny) {
    out.push(
      opts.reason === undefined
        ? { id, verdict: 'deny' }
        : { id, verdict: 'deny', reason: opts.reason },
    );
  }
  for (const pair of opts.answer) {
    const eq = pair.indexOf('=');
    if (eq <= 0)
      throw new MvmError('config', 'bad_answer', `--answer '${pair}': expected ID=VALUE`);
    // Read as JSON where it is JSON; the text is kept, for a question whose schema takes it.
    const text = pair.slice(eq + 1);
    out.push({ id: pair.slice(0, eq), answer: answerFromText(text, null), text });
  }
  return out;
}

async function resumeCommand(id: string, opts: ResumeFlags, con: Console): Promise<number> {
  let configPath = opts.config;
  if (!configPath) {
    const probe = openMvm(undefined, opts.store, true);
    try {
      configPath = probe.store.findRun(id).configPath ?? undefined;
    } finally {
      probe.close();
    }
  }
  const mvm = openMvm(configPath, opts.store);
  const shown: Json[] = [];
  const stop = interruptible();
  try {
    const result = await mvm.resume(id, answersOf(opts), {
      signal: stop.signal,
      user: terminalUser(con, opts.approveFile, stop.signal),
      events: printShown(opts, con, shown),
    });
    return report(result, mvm, opts, con, shown);
  } finally {
    stop.done();
    mvm.close();
  }
}

interface RunFlags {
  config?: string;
  approveFile?: string;
  record?: string;
  input: string[];
  json?: boolean;
  store?: string;
}

interface CheckFlags {
  json?: boolean;
  config?: string;
}

/**
 * Verifies an image and, against the configuration beside it (or `--config`), checks what
 * `run` checks before it stores anything: the binding, the signature, the lock. Starts no
 * server and writes no store.
 */
function checkCommand(target: string, opts: CheckFlags, con: Console): number {
  const { image, config: found } = resolveTarget(target);
  const configPath = opts.config ?? found;
  // The configuration is read first: a malformed one fails here as it would at run.
  const config = configPath ? loadConfig(configPath) : undefined;
  const file = readImageFile(image);
  const { issues, linked } = verifyImage(file.data);
  const binding = config && linked ? checkBinding(file, linked.image, config) : [];
  const ok = issues.length === 0 && binding.length === 0;
  if (opts.json) {
    con.out(
      JSON.stringify({
        ok,
        issues,
        config: config?.path ?? null,
        binding: config && linked ? binding.map((p) => p.toJSON()) : null,
      }),
    );
    return ok ? EXIT.done : EXIT.failed;
  }
  for (const line of describeIssues(file, issues)) con.out(line);
  for (const p of binding) con.out(`${p.message} [${p.code}]`);
  // The binding is checked once the image verifies: the summary comes last.
  if (!config && linked) con.out(`${noConfigHint(image)}; the binding was not checked`);
  const count = issues.length + binding.length;
  if (!ok) con.out(`${count} issue${count === 1 ? '' : 's'}`);
  else con.out(config ? `${image}: ok, bound by ${config.path}` : `${image}: ok`);
  return ok ? EXIT.done : EXIT.failed;
}

function program(con: Console, done: (code: number) => void): Command {
  const cmd = new Command('mvm')
    .description('mvm, the Model Virtual Machine: verify, run and audit agent images')
    .version(VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => con.out(s), writeErr: (s) => con.err(s) })
    .showHelpAfterError();
  const store = new Option('--store <dir>', 'the run store folder (default .mvm)');

  const act = async (f: () => Promise<number> | number) => done(await f());

  cmd
    .command('run')
    .description('verify and run an image (a file, or a folder with image.yaml and mvm.yaml)')
    .argument('<image>', 'image file or folder')
    .option('-c, --config <file>', 'host configuration (default: mvm.yaml beside the image)')
    .option('-i, --input <key=value>', 'an input of the image; repeatable', collect, [])
    .option('--approve-file <file>', 'answers to confirmations given ahead')
    .option('--record <file>', "write the model's replies to a replay file")
    .option('--json', 'print one JSON object: runId, status, output, manifest')
    .addOption(store)
    .action((target: string, opts: RunFlags) => act(() => runCommand(target, opts, con)));

  cmd
    .command('eval')
    .description('run a suite of tasks against each model, and compare them side by side')
    .argument('<suite>', 'the suite file')
    .option('-m, --models <names>', "model names, comma-separated (default: the suite's own)")
    .option('-t, --tasks <ids>', 'only these tasks, comma-separated; * matches any characters')
    .option('--repeat <n>', 'runs of each task with each model', '1')
    .option('--fail-under <rate>', 'exit 1 when a model succeeds less often (0.8 or 80%)')
    .option('--json', 'print one JSON object: the runs and each model')
    .addOption(store)
    .action((suite: string, opts: EvalFlags) =>
      act(async () => {
        const stop = interruptible();
        try {
          return await evalCommand(suite, opts, con, stop.signal);
        } finally {
          stop.done();
        }
      }),
    );

  cmd
    .command('resume')
    .description('answer what a waiting run asks, and go on in this process')
    .argument('<run>', 'run id, or a unique prefix')
    .option('--approve <id>', 'approve a pending confirmation; repeatable', collect, [])
    .option('--deny <id>', 'deny a pending confirmation; repeatable', collect, [])
    .option('--always <id>', 'approve, and allow the same for the rest of the run', collect, [])
    .option('--reason <text>', 'why, with --deny; the model sees it')
    .option('--answer <id=value>', 'answer a pending question; repeatable', collect, [])
    .option('-c, --config <file>', 'host configuration (default: the one the run started with)')
    .option('--approve-file <file>', 'answers given ahead, for confirmations to come')
    .option('--json', 'print one JSON object, as run does')
    .addOption(store)
    .action((id: string, opts: ResumeFlags) => act(() => resumeCommand(id, opts, con)));

  cmd
    .command('replay')
    .description('re-execute a run against its journal and check it produces the same entries')
    .argument('<run>', 'run id, or a unique prefix')
    .option('--image <image>', 'replay another version of the image against the journal')
    .option('--json', 'print the report as JSON')
    .addOption(store)
    .action((id: string, opts: { store?: string; json?: boolean; image?: string }) =>
      act(async () => {
        const image = opts.image ? readImageFile(resolveTarget(opts.image).image) : undefined;
        const mvm = openMvm(undefined, opts.store, true);
        try {
          const r = await mvm.replay(id, image ? { image } : {});
          if (opts.json) con.out(JSON.stringify(r));
          else if (r.ok) {
            con.out(
              `run ${r.run}: replay matches the journal (${r.matched} entries, head ${r.head.slice(0, 16)}, status ${r.status})`,
            );
          } else {
            if (!r.chain) con.out(`run ${r.run}: the journal's hash chain does not verify`);
            if (r.divergence) con.out(`run ${r.run}: ${r.divergence.message}`);
            con.out(`run ${r.run}: replay does NOT match (${r.matched} of ${r.entries} entries)`);
          }
          return r.ok ? EXIT.done : EXIT.failed;
        } finally {
          mvm.close();
        }
      }),
    );

  const keys = cmd.command('keys').description('Ed25519 keys for signing images and manifests');
  keys
    .command('new')
    .description('make a key pair: BASE.key (private) and BASE.pub')
    .argument('[base]', 'path without extension', '.mvm/keys/host')
    .action((base: string) =>
      act(() => {
        mkdirSync(dirname(resolve(base)), { recursive: true });
        const k = newKeyPair(base);
        con.out(
          `private key: ${k.privatePath}\npublic key: ${k.publicPath}\nfingerprint: ${k.key}`,
        );
        return EXIT.done;
      }),
    );

  cmd
    .command('sign')
    .description('sign an image: writes IMAGE.sig beside it')
    .argument('<image>', 'image file or folder')
    .requiredOption('--key <file>', 'the private key')
    .action((target: string, opts: { key: string }) =>
      act(() => {
        const { image } = resolveTarget(target);
        const file = readImageFile(image);
        const sig = signDigest(file.digest, loadPrivateKey(opts.key));
        writeFileSync(`${image}.sig`, `${JSON.stringify(sig, null, 2)}\n`);
        con.out(`${image}.sig: signed ${file.digest} with ${sig.key}`);
        return EXIT.done;
      }),
    );

  cmd
    .command('verify')
    .description("check an image's signature against trusted public keys")
    .argument('<image>', 'image file or folder')
    .requiredOption('--pub <file>', 'a trusted public key; repeatable', collect, [])
    .action((target: string, opts: { pub: string[] }) =>
      act(() => {
        const { image } = resolveTarget(target);
        const file = readImageFile(image);
        let sig: unknown;
        try {
          sig = JSON.parse(readFileSync(`${image}.sig`, 'utf8'));
        } catch {
          con.out(`${image}: no readable signature at ${image}.sig`);
          return EXIT.failed;
        }
        try {
          const key = verifySignature(sig, file.digest, opts.pub.map(loadPublicKey));
          con.out(`${image}: signed by ${key}`);
          return EXIT.done;
        } catch (e) {
          if (!(e instanceof SignatureError)) throw e;
          con.out(`${image}: ${e.message} [${e.code}]`);
          return EXIT.failed;
        }
      }),
    );

  cmd
    .command('export')
    .description('write a run (journal and manifest) to one file, to verify elsewhere')
    .argument('<run>', 'run id, or a unique prefix')
    .argument('<file>', 'the file to write')
    .addOption(store)
    .action((id: string, out: string, opts: { store?: string }) =>
      act(() => {
        const mvm = openMvm(undefined, opts.store, true);
        try {
          const run = mvm.store.findRun(id);
          const manifest = (mvm.store.getManifest(run.id) ?? null) as unknown as Manifest | null;
          const text = `${JSON.stringify(exportRun(run.id, mvm.store.entries(run.id), manifest))}\n`;
          try {
            writeFileSync(out, text);
          } catch (e) {
            const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
            throw new ConfigError('bad_out', `cannot write the export to ${out} (${why})`, {
              path: out,
            });
          }
          con.out(`${out}: run ${run.id}`);
          return EXIT.done;
        } finally {
          mvm.close();
        }
      }),
    );

  cmd
    .command('lock')
    .description('pin every tool of the configured servers in mvm.lock beside the configuration')
    .argument('[config]', 'the host configuration, or a folder holding mvm.yaml', '.')
    .option('--update', 'accept the differences from the current lock, after review')
    .action((target: string, opts: { update?: boolean }) =>
      act(async () => {
        const path = resolveConfigTarget(target);
        // Listing the tools runs nothing: the store it needs is thrown away after.
        const scratch = mkdtempSync(join(tmpdir(), 'mvm-lock-store-'));
        try {
          const mvm = openMvm(path, scratch);
          try {
            const { path: written, diff } = await mvm.lock(opts.update === true);
            for (const line of diff) con.out(line);
            con.out(`${written}: written`);
            return EXIT.done;
          } finally {
            mvm.close();
          }
        } finally {
          rmSync(scratch, { recursive: true, force: true });
        }
      }),
    );

  cmd
    .command('check')
    .description('verify an image and its binding, and print every issue; exit 1 when any')
    .argument('<image>', 'image file or folder')
    .option('-c, --config <file>', 'host configuration (default: mvm.yaml beside the image)')
    .option('--json', 'print the issues as JSON')
    .action((target: string, opts: CheckFlags) => act(() => checkCommand(target, opts, con)));

  cmd
    .command('runs')
    .description('list the runs in the store, newest first')
    .option('--json', 'print JSON')
    .addOption(store)
    .action((opts: { json?: boolean; store?: string }) =>
      act(() => {
        let mvm: Mvm;
        try {
          mvm = openMvm(undefined, opts.store, true);
        } catch (e) {
          // No store yet is no runs yet.
          if (!(e instanceof ConfigError) || e.code !== 'no_store') throw e;
          con.out(opts.json ? '[]' : `no runs: ${e.message}`);
          return EXIT.done;
        }
        try {
          const runs = mvm.store.listRuns();
          if (opts.json) con.out(JSON.stringify(runs));
          else if (runs.length === 0) con.out(`no runs in the store at ${mvm.store.dir}`);
          for (const r of opts.json ? [] : runs) {
            con.out(
              `${r.id}  ${r.status.padEnd(8)} ${r.imageName}  ${r.createdAt}  ${r.count} entries`,
            );
          }
          return EXIT.done;
        } finally {
          mvm.close();
        }
      }),
    );

  cmd
    .command('manifest')
    .description("print a run's manifest")
    .argument('<run>', 'run id, or a unique prefix')
    .addOption(store)
    .action((id: string, opts: { store?: string }) =>
      act(() => {
        const mvm = openMvm(undefined, opts.store, true);
        try {
          const run = mvm.store.findRun(id);
          const manifest = mvm.store.getManifest(run.id);
          if (!manifest) {
            con.err(`run ${run.id} has no manifest yet (status ${run.status})`);
            return EXIT.failed;
          }
          con.out(JSON.stringify(manifest, null, 2));
          return EXIT.done;
        } finally {
          mvm.close();
        }
      }),
    );

  cmd
    .command('report')
    .description('write a run as one self-contained HTML page')
    .argument('<run>', 'run id, or a unique prefix')
    .option('-o, --out <file>', "the file to write (default: report.html in the run's folder)")
    .addOption(store)
    .action((id: string, opts: { out?: string; store?: string }) =>
      act(() => {
        const mvm = openMvm(undefined, opts.store, true);
        try {
          con.out(writeReport(mvm.store, id, opts.out));
          return EXIT.done;
        } finally {
          mvm.close();
        }
      }),
    );

  cmd
    .command('serve')
    .description('serve the host API and a page on which people answer waiting runs')
    .argument('[dir]', 'a folder with image.yaml and mvm.yaml', '.')
    .option('--port <n>', 'the port to listen on (0: any free one)', '7411')
    .option('--host <address>', 'the address to bind', '127.0.0.1')
    .option('--token-file <file>', 'also write the token to this file (mode 0600)')
    .addOption(store)
    .action((dir: string, opts: ServeFlags) => act(() => serveCommand(dir, opts, con)));

  cmd
    .command('explain')
    .description('why an entry carries its label, or which decisions untrusted data reached')
    .argument('<run>', 'run id, or a unique prefix')
    .argument('[seq]', "a journal entry's number")
    .option('--json', 'print JSON')
    .addOption(store)
    .action((id: string, seq: string | undefined, opts: { json?: boolean; store?: string }) =>
      act(() => {
        const mvm = openMvm(undefined, opts.store, true);
        try {
          return explainCommand(mvm.store, id, seq, opts, con);
        } finally {
          mvm.close();
        }
      }),
    );

  cmd
    .command('audit')
    .description('check what runs recorded')
    .command('verify')
    .description("check a run's journal: every hash, every link, and its recorded head")
    .argument('[run]', 'run id, or a unique prefix')
    .option('--file <export>', 'check an exported run instead of one in the store')
    .option('--pub <file>', "a public key the manifest's signature may be from", collect, [])
    .option('--json', 'print the report as JSON')
    .addOption(store)
    .action(
      (
        id: string | undefined,
        opts: { store?: string; json?: boolean; file?: string; pub: string[] },
      ) =>
        act(() => {
          if (opts.file) {
            const report = verifyExport(
              readJson(opts.file, 'an exported run'),
              opts.pub.map(loadPublicKey),
            );
            if (opts.json) con.out(JSON.stringify(report));
            else printAudit(con, opts.file, report);
            return report.ok ? EXIT.done : EXIT.failed;
          }
          if (!id)
            throw new MvmError('config', 'missing_run', 'audit verify: name a run, or --file');
          const mvm = openMvm(undefined, opts.store, true);
          try {
            const { run, report } = mvm.auditRun(id, opts.pub);
            if (opts.json) con.out(JSON.stringify({ run: run.id, ...report }));
            else printAudit(con, `run ${run.id}`, report);
            return report.ok ? EXIT.done : EXIT.failed;
          } finally {
            mvm.close();
          }
        }),
    );

  return cmd;
}

/**
 * What `audit verify` found, said apart: the journal's chain, the manifest against the
 * journal, the manifest's signature, and the tool lock the run was held to.
 */
function printAudit(
  con: Console,
  what: string,
  report: {
    problems: Array<{ code: string; message: string }>;
    count: number;
    head?: string;
    signature?: SignatureState;
    lock?: LockStatus;
  },
): void {
  for (const p of report.problems) con.out(`${what}: ${p.message} [${p.code}]`);
  const of = (code: string) => report.problems.some((p) => p.code === code);
  const journal = report.problems.filter((p) => !NOT_CHAIN.has(p.code));
  const head = report.head ? `, head ${report.head.slice(0, 16)}` : '';
  con.out(
    journal.length === 0
      ? `${what}: journal verifies (${report.count} entries${head})`
      : `${what}: journal does NOT verify`,
  );
  if (of('manifest_mismatch')) con.out(`${what}: manifest does NOT match the journal`);
  con.out(`${what}: ${signatureLine(report.signature)}`);
  if (report.lock) con.out(`${what}: lock ${report.lock.path}: ${report.lock.message}`);
}

/**
 * What the manifest's signature says, plainly: a chain that verifies shows only that the
 * journal is whole, not who wrote it; only a signature checked against a key given with
 * --pub authenticates it.
 */
function signatureLine(s: SignatureState = { state: 'none' }): string {
  const nothing = 'nothing authenticates the journal';
  switch (s.state) {
    case 'verified':
      return `manifest signed by ${s.key}, checked against the key given`;
    case 'unchecked':
      return `manifest signed by ${s.key}, NOT checked against a key (give --pub KEY): ${nothing}`;
    case 'unsigned':
      return `manifest NOT signed: ${nothing}`;
    case 'failed':
      return 'manifest signature does NOT verify';
    case 'none':
      return `no manifest: ${nothing}`;
  }
}

/** Problems that are not the chain's own: the manifest's and the lock's. */
const NOT_CHAIN = new Set(['manifest_signature', 'manifest_mismatch', 'lock_mismatch']);

/** A JSON file the command was pointed at, or a typed error saying which and why not. */
function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new ConfigError('bad_file', `${path}: cannot read ${what} (${why})`, { file: path });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError('bad_file', `${path}: ${what} must be JSON: ${(e as Error).message}`, {
      file: path,
    });
  }
}

/**
 * Runs the CLI on its arguments (without `node` and the script) and gives the exit code.
 *
 * ```ts
 * process.exitCode = await main(['check', 'examples/notes']);
 * ```
 */
export async function main(argv: string[], con: Console = stdio): Promise<number> {
  // A command asked for JSON says its error in JSON on stdout too, so a reader of stdout
  // never gets nothing; the text on stderr stays for people.
  const options = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv;
  const json = options.includes('--json');
  const fail = (code: number, error: Record<string, unknown>) => {
    if (json) con.out(JSON.stringify({ error }));
    return code;
  };
  let code: number | undefined;
  const cmd = program(con, (c) => {
    code = c;
  });
  try {
    await cmd.parseAsync(argv, { from: 'user' });
    if (code === undefined) {
      con.err(cmd.helpInformation());
      return EXIT.usage;
    }
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version'
        ? EXIT.done
        : EXIT.usage;
    }
    if (e instanceof VerifyError) {
      for (const line of (e.data.lines as string[] | undefined) ?? [e.message]) con.err(line);
      const { lines: _l, ...error } = e.toJSON();
      return fail(EXIT.usage, error);
    }
    if (e instanceof MvmError) {
      con.err(`mvm: ${e.message} [${e.code}]`);
      if (typeof e.data.hint === 'string') con.err(`mvm: ${e.data.hint}`);
      const usage =
        e.kind === 'config' ||
        e.kind === 'verify' ||
        (e.kind === 'store' && ['run_not_found', 'run_in_progress'].includes(e.code));
      return fail(usage ? EXIT.usage : EXIT.failed, e.toJSON());
    }
    con.err(`mvm: internal error: ${(e as Error).stack ?? String(e)}`);
    return fail(EXIT.failed, { kind: 'internal', code: 'internal', message: String(e) });
  }
}
