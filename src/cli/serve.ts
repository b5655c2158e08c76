import { chmodSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { loadConfig, parseConfig } from '../host/config.js';
import { Mvm } from '../host/host.js';
import { readImageFile, resolveTarget, verifyFile } from '../host/image-file.js';
import { isLoopback } from '../server/auth.js';
import type { ServeEvent } from '../server/desk.js';
import { serve } from '../server/serve.js';
import { ConfigError } from '../spec/errors.js';
import type { Console } from './main.js';

export interface ServeFlags {
  port: string;
  host: string;
  tokenFile?: string;
  store?: string;
}

/** What the server reports, one line each on stderr; the token is printed once, apart. */
function logLine(con: Console) {
  return (e: ServeEvent) => {
    switch (e.type) {
      case 'listening':
        return;
      case 'run.started':
        return con.err(`run ${e.runId}: started (${e.target})`);
      case 'run.resumed':
        return con.err(`run ${e.runId}: resumed (${e.answers.join(', ')})`);
      case 'run.stopped':
        return con.err(`run ${e.runId}: ${e.status}`);
      case 'run.crashed':
        return con.err(`run ${e.runId}: crashed: ${e.message}`);
      case 'refused':
        return con.err(`refused ${e.method} ${e.path}: ${e.status} ${e.message}`);
      case 'internal':
        return con.err(`internal error: ${e.message}`);
    }
  };
}

function portOf(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535) {
    throw new ConfigError('bad_port', `--port ${text}: expected 0 to 65535`, { port: text });
  }
  return n;
}

/** Writes the token for its owner's eyes only. */
function writeToken(path: string, token: string) {
  try {
    writeFileSync(path, `${token}\n`, { mode: 0o600 });
    // A file that was there already keeps its mode on write.
    chmodSync(path, 0o600);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new ConfigError('bad_token_file', `--token-file ${path}: cannot write (${why})`, {}, e);
  }
}

/**
 * Removes the token file once the server has stopped and the token is no longer good; a
 * file that holds another token (a server started since) is left alone.
 */
function removeToken(path: string, token: string) {
  try {
    if (readFileSync(path, 'utf8').trim() === token) unlinkSync(path);
  } catch {
    // Gone already, or not readable: nothing of this server's is left to remove.
  }
}

/** Resolves on the first SIGINT or SIGTERM. */
function stopSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/**
 * `mvm serve [DIR]`: the host API and the approval page over the image and configuration
 * in DIR, until interrupted. Runs under way when it stops are cancelled, with their ends
 * written.
 */
export async function serveCommand(target: string, opts: ServeFlags, con: Console) {
  const { image, config } = resolveTarget(target);
  const file = readImageFile(image);
  const linked = verifyFile(file);
  const port = portOf(opts.port);
  const mvm = new Mvm({
    config: config ? loadConfig(config) : parseConfig({}, { path: null, dir: process.cwd() }),
    storeDir: opts.store,
  });
  try {
    const server = await serve({
      mvm,
      targets: [{ name: linked.image.name, image: file }],
      host: opts.host,
      port,
      log: logLine(con),
    });
    let tokenWritten = false;
    try {
      if (opts.tokenFile) {
        writeToken(opts.tokenFile, server.token);
        tokenWritten = true;
      }
      con.out(`mvm serve: ${server.url}#token=${server.token}`);
      con.out(`  image ${linked.image.name}, store ${mvm.store.dir}; stop with Ctrl-C`);
      if (!isLoopback(server.host)) {
        con.err(`warning: bound to ${server.host}, not loopback: every request needs the token`);
      }
      await stopSignal();
    } finally {
      await server.close();
      if (tokenWritten) removeToken(opts.tokenFile!, server.token);
    }
  } finally {
    mvm.close();
  }
  return 0;
}
