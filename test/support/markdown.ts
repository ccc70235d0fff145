/**
 * Following a link into this repository's Markdown as a reader on GitHub would: the file a relative
 * link names, and the anchors GitHub gives that file's headings.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { githubAnchor } from '../rules/model.js';

export interface Heading {
  level: number;
  text: string;
  anchor: string;
}

/**
 * The ATX headings (`#` to `######`) outside fenced code blocks, with GitHub's anchors: the slug of
 * the heading's text (githubAnchor: lower case, punctuation dropped, spaces to hyphens), and for a
 * slug met before in the file, `-1`, `-2`, ... in order.
 */
export function markdownHeadings(markdown: string): Heading[] {
  const headings: Heading[] = [];
  const seen = new Map<string, number>();
  let fence: string | undefined;
  for (const line of markdown.split('\n')) {
    const fenceMark = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fenceMark) {
      if (fence === undefined) fence = fenceMark;
      else if (fenceMark[0] === fence[0] && fenceMark.length >= fence.length) fence = undefined;
      continue;
    }
    if (fence !== undefined) continue;
    const match = /^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/.exec(line);
    if (!match) continue;
    // The slug is made from the rendered text: a link's text, not its target.
    const text = (match[2] ?? '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const slug = githubAnchor(text);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    headings.push({
      level: match[1]?.length ?? 0,
      text,
      anchor: count === 0 ? slug : `${slug}-${count}`,
    });
  }
  return headings;
}

export interface ResolvedLink {
  /** The file the link names, resolved against `root`. */
  file: string;
  anchor: string;
  /** The heading the anchor reaches, if the file exists and has one. */
  heading?: Heading;
  /** Why the link does not work, if it does not. */
  problem?: string;
}

/**
 * Resolves `link` (e.g. `docs/runbook.md#thingspacefotadatastale`) against the repository root
 * `root`, as a copy of the repository published anywhere would: an absolute URL (a public address
 * the rules invented) does not resolve to the repository and is a problem.
 */
export function resolveRepositoryLink(link: string, root: string): ResolvedLink {
  const base = pathToFileURL(root.endsWith('/') ? root : `${root}/`);
  const url = new URL(link, base);
  const anchor = decodeURIComponent(url.hash.replace(/^#/, ''));
  if (url.protocol !== 'file:' || !url.href.startsWith(base.href)) {
    return { file: url.href, anchor, problem: `${link} is not a path inside the repository` };
  }
  const file = fileURLToPath(url);
  if (!existsSync(file)) return { file, anchor, problem: `${file} does not exist` };
  if (anchor === '') return { file, anchor, problem: `${link} has no #anchor` };
  const heading = markdownHeadings(readFileSync(file, 'utf8')).find((h) => h.anchor === anchor);
  if (!heading) return { file, anchor, problem: `${file} has no heading with anchor #${anchor}` };
  return { file, anchor, heading };
}
