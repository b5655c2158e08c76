/**
 * What a server's standard error says about why it stopped, in a line or two: the first
 * line that reads as an error (a runtime's stack trace puts the cause there and its own
 * version last), then the last line, each cut to a bounded length.
 *
 * ```ts
 * tellingLines(["Error: Cannot find module '/x.js'", '    at ...', 'Node.js v20']);
 * // "Error: Cannot find module '/x.js' … Node.js v20"
 * ```
 */
export function tellingLines(lines: readonly string[], firstError?: string): string | undefined {
  const said = lines.map((l) => l.trim()).filter((l) => l !== '');
  const last = said.at(-1);
  const error = firstError?.trim() || said.find(looksLikeError);
  const picked = error && error !== last ? [error, last] : [last];
  const text = picked
    .filter((l): l is string => l !== undefined)
    .map((l) => (l.length > LINE_MAX ? `${l.slice(0, LINE_MAX - 1)}…` : l));
  return text.length > 0 ? text.join(' … ') : undefined;
}

/** How much of one line a message keeps. */
const LINE_MAX = 200;

/** A line that names an error, as runtimes and programs commonly print one. */
export function looksLikeError(line: string): boolean {
  return /\b(\w*error|exception|fatal|panic|cannot|can't|could not|not found|no such|denied|failed)\b/i.test(
    line,
  );
}
