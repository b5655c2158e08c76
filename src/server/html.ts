/**
 * HTML built from tagged templates that escape by default: every interpolated value is text
 * unless it is itself an `Html` fragment made by `html`. Journal content is untrusted, so
 * there is no other way into the page than through `esc`.
 *
 * ```ts
 * html`<td title="${name}">${content}</td>`.text // name and content escaped
 * ```
 */
export class Html {
  constructor(readonly text: string) {}
}

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/**
 * Text for an element's content or a quoted attribute value. NUL and lone surrogates, which
 * the parser would replace anyway, become U+FFFD here so that the file is valid UTF-8.
 */
export function esc(text: string): string {
  return text
    .replace(/[&<>"']/g, (c) => ENTITIES[c]!)
    .replace(
      /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g,
      '\uFFFD',
    );
}

type Part = Html | string | number | boolean | null | undefined | readonly Part[];

function partText(p: Part): string {
  if (p instanceof Html) return p.text;
  if (Array.isArray(p)) return p.map(partText).join('');
  if (p === null || p === undefined || p === false) return '';
  return esc(String(p));
}

export function html(strings: TemplateStringsArray, ...parts: Part[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < parts.length; i++) out += partText(parts[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** Markup the module itself wrote (the style sheet, the script): never journal content. */
export function trusted(text: string): Html {
  return new Html(text);
}
