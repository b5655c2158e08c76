/**
 * Resource names and patterns. A resource is named like a path: `tool:fs/read_file`,
 * `model:main`, `mem:notes/summary`, `user`. In a pattern, `*` matches within one segment
 * (no `/`) and `**` matches across segments.
 */

const cache = new Map<string, RegExp>();

function compile(pattern: string): RegExp {
  let re = cache.get(pattern);
  if (!re) {
    let src = '';
    for (let i = 0; i < pattern.length; i++) {
      const c = pattern[i]!;
      if (c === '*' && pattern[i + 1] === '*') {
        src += '.*';
        i++;
      } else if (c === '*') {
        src += '[^/]*';
      } else {
        src += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
      }
    }
    re = new RegExp(`^${src}$`, 's');
    cache.set(pattern, re);
  }
  return re;
}

export function resourceMatches(pattern: string, resource: string): boolean {
  if (pattern === resource) return true;
  if (!pattern.includes('*')) return false;
  return compile(pattern).test(resource);
}

type Token = string | '*' | '**';

function tokens(pattern: string): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] === '*' && pattern[i + 1] === '*') {
      out.push('**');
      i++;
    } else out.push(pattern[i]!);
  }
  return out;
}

/** Whether wildcard token `t` (or literal) takes character `c`. */
const takes = (t: Token, c: string) => (t === '**' ? true : t === '*' ? c !== '/' : t === c);
const wild = (t: Token | undefined) => t === '*' || t === '**';

/**
 * Whether some resource matches both patterns: a search over pairs of positions, where a
 * wildcard may match nothing (move past it) or take the other side's next character.
 *
 * ```ts
 * patternsOverlap('tool:*' + '/send', 'tool:mail/*') // true: tool:mail/send
 * ```
 */
export function patternsOverlap(a: string, b: string): boolean {
  const x = tokens(a);
  const y = tokens(b);
  const seen = new Set<number>();
  const stack: Array<[number, number]> = [[0, 0]];
  while (stack.length > 0) {
    const [i, j] = stack.pop()!;
    const key = i * (y.length + 1) + j;
    if (seen.has(key)) continue;
    seen.add(key);
    if (i === x.length && j === y.length) return true;
    const s = x[i];
    const t = y[j];
    if (wild(s)) stack.push([i + 1, j]);
    if (wild(t)) stack.push([i, j + 1]);
    if (s === undefined || t === undefined) continue;
    if (!wild(s) && !wild(t)) {
      if (s === t) stack.push([i + 1, j + 1]);
    } else if (!wild(s)) {
      if (takes(t, s)) stack.push([i + 1, j]);
    } else if (!wild(t)) {
      if (takes(s, t)) stack.push([i, j + 1]);
    }
  }
  return false;
}

export const toolResource = (qualifiedName: string) => `tool:${qualifiedName}`;
export const modelResource = (slot: string) => `model:${slot}`;
export const memResource = (key: string) => `mem:${key}`;

/**
 * A server's resource, as the monitor is asked about it: `resource:<ns>/<uri>`, the URI as
 * the server is sent it. `resource:docs/**` then covers every resource of `docs`, and
 * `resource:docs/file:///srv/notes/**` the ones under a folder.
 */
export const serverResource = (ns: string, uri: string) => `resource:${ns}/${uri}`;

/** A server's prompt, as the monitor is asked about it: `prompt:<ns>/<name>`. */
export const promptResource = (ns: string, name: string) => `prompt:${ns}/${name}`;

/** The longest resource URI the machine sends. */
export const MAX_URI_CHARS = 8192;

/**
 * Why a URI cannot name a resource, if it cannot. A pattern over resource names matches the
 * text, so the text must mean one thing: no whitespace or control characters (which URL
 * parsers drop or fold), and no `.` or `..` segment, percent-encoded or not, that would
 * put a URI the rules allow in front of one they do not.
 */
export function uriProblem(uri: string): string | undefined {
  if (uri.length === 0) return 'it is empty';
  if (uri.length > MAX_URI_CHARS) return `it is longer than ${MAX_URI_CHARS} characters`;
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(uri)) return 'it does not begin with a scheme';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are the point
  if (/[\u0000-\u0020\u007f]/.test(uri)) return 'it holds whitespace or a control character';
  const rest = uri.slice(uri.indexOf(':') + 1).replace(/%2e/gi, '.');
  if (/(^|\/)\.\.?(\/|$|[?#])/.test(rest)) return "it holds a '.' or '..' segment";
  return undefined;
}
