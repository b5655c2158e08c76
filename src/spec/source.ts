import { readFileSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument } from 'yaml';
import { ConfigError } from './errors.js';

/** A parsed JSON or YAML file that can say where in its text a path points. */
export interface SourceFile {
  path: string;
  data: unknown;
  /** `line:column` of a path like `procedures.main.body[2]`, when the file is YAML or JSON. */
  locate(path: string): string | undefined;
}

/**
 * Where an error about a file points, as `file:line:col: path`, or `file: path` when the
 * line and column are not known (`pos` as `locate` gives it).
 */
export function placeAt(file: string, path: string, pos: string | undefined): string {
  return `${file}${pos ? `:${pos}` : ''}: ${path}`;
}

function splitPath(path: string): Array<string | number> {
  const out: Array<string | number> = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(m[1]!);
  }
  return out;
}

/**
 * Reads a JSON or YAML file (JSON is YAML, so one parser reads both). A syntax error is a
 * ConfigError naming the file, line and column.
 */
export function readSource(path: string, what: string): SourceFile {
  let text: string;
  try {
    if (statSync(path).isDirectory()) {
      throw new ConfigError('is_directory', `${path}: is a folder, expected a ${what} file`, {
        file: path,
      });
    }
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(
      'unreadable',
      `${path}: cannot read the ${what}: ${(e as Error).message}`,
      {
        file: path,
      },
    );
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const err = doc.errors[0]!;
    const pos = lines.linePos(err.pos[0]);
    const kind = extname(path) === '.json' ? 'JSON' : 'YAML';
    throw new ConfigError(
      'syntax',
      `${path}:${pos.line}:${pos.col}: not valid ${kind}: ${err.message.split('\n')[0]}`,
      { file: path, line: pos.line, column: pos.col },
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (e) {
    throw new ConfigError('syntax', `${path}: cannot be read: ${(e as Error).message}`, {
      file: path,
    });
  }
  return {
    path,
    data,
    locate(p: string) {
      if (p.startsWith('(')) {
        const pos = lines.linePos(doc.contents?.range?.[0] ?? 0);
        return `${pos.line}:${pos.col}`;
      }
      let keys = splitPath(p);
      // Walk as far as the path exists; a missing field points at its parent.
      while (keys.length > 0) {
        const node = doc.getIn(keys, true) as { range?: [number, number, number] } | undefined;
        if (node && (node.range || isMap(node) || isSeq(node))) {
          const start = node.range?.[0];
          if (start !== undefined) {
            const pos = lines.linePos(start);
            return `${pos.line}:${pos.col}`;
          }
        }
        keys = keys.slice(0, -1);
      }
      return undefined;
    },
  };
}
