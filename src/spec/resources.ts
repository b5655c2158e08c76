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
