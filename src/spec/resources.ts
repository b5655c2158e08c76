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
