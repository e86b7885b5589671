// remove_attachments: the attachments a rule's attachment criteria match (or all of them) taken out of the raw
// message, every other byte kept, and one text/plain notice in the place of the first, naming each file removed.
// A ZIP or an attached message goes whole when something in it matches: what is inside is not rewritten.
import { replaceLeaves, type LeafEdit, type MimeLeaf } from '../../core/message/mime-leaves.ts';
import { isAscii } from '../../core/index.ts';
import { leafAttachments, type LeafAttachment, type TypeGuess } from './leaf-facts.ts';
import { editedHeader, quotedPrintable } from './part-fields.ts';
import type { CompiledRule } from './rule-set.ts';

export const DEFAULT_NOTICE = 'The mail gateway removed attachments from this message:';

export interface RemovedFile {
  /** The attachment's name (its type when it has none). */
  name: string;
  /** What in it matched, when that was a file in the ZIP or in the attached message rather than the part itself. */
  inside?: string;
  rule: string;
}

export interface Removal { text: string; removed: RemovedFile[] }

/** The first rule that takes the attachment out, and what in it made the rule do so. */
function remover(a: LeafAttachment, rules: readonly CompiledRule[]): { rule: CompiledRule; inside?: string } | undefined {
  for (const rule of rules) {
    if (rule.actions.removeAttachments?.all) return { rule };
    const hit = a.held.findIndex((h) => rule.attachmentTests.some((t) => t(h.facts)));
    if (hit >= 0) return { rule, inside: hit === 0 ? undefined : a.held[hit].label };
  }
  return undefined;
}

/**
 * The notice's text: each rule's notice (or the default) over the files that rule took out, a line per file with
 * why, rules in the order they were written. Rules of one notice text share one heading: two rules on the default
 * read as one list, while "Programs sent to you were taken out." never stands over a file another rule removed.
 */
function noticeText(removed: RemovedFile[], rules: readonly CompiledRule[]): string {
  const why = (r: CompiledRule) => r.description?.replace(/\s+/g, ' ').trim() || `rule ${r.name}`;
  const sections = new Map<string, string[]>();
  for (const rule of rules) {
    const files = removed.filter((f) => f.rule === rule.name);
    if (!files.length) continue;
    const heading = rule.actions.removeAttachments?.notice ?? DEFAULT_NOTICE;
    const lines = sections.get(heading) ?? [];
    for (const f of files) lines.push(`- ${f.name}${f.inside ? ` (it held ${f.inside})` : ''}: ${why(rule)}`);
    sections.set(heading, lines);
  }
  return `${[...sections].map(([heading, lines]) => `${heading}\r\n\r\n${lines.join('\r\n')}`).join('\r\n\r\n')}\r\n`;
}

/** The notice as a part: its content fields and body (7-bit: quoted-printable when a name is beyond ASCII). */
function noticePart(notice: string): { fields: Array<[string, string]>; body: string } {
  const ascii = isAscii(notice);
  return {
    fields: [
      ['Content-Type', 'text/plain; charset=utf-8'],
      ['Content-Transfer-Encoding', ascii ? '7bit' : 'quoted-printable'],
      ['Content-Disposition', 'inline'],
    ],
    body: ascii ? notice : quotedPrintable(Buffer.from(notice, 'utf8')),
  };
}

/** The notice in the leaf's place: a part of a multipart, or the content of a single-part message. */
function noticeEdit(text: string, leaf: MimeLeaf, notice: string): LeafEdit | undefined {
  const part = noticePart(notice);
  if (leaf.start > 0) {
    const fields = part.fields.map(([n, v]) => `${n}: ${v}\r\n`).join('');
    // The line break before the next delimiter is outside the leaf and stays.
    return { leaf, with: `${fields}\r\n${part.body.replace(/\r\n$/, '')}` };
  }
  // The whole message was the attachment: its own fields (From, Subject, Received…) stay, its content fields change.
  const head = editedHeader(text, leaf, part.fields, ['content-description', 'content-id']);
  return head === undefined ? undefined : { leaf, with: `${head}${part.body}` };
}

/** The delimiter line before a part of a multipart: where it starts, and the boundary it names. */
function delimiterBefore(text: string, leaf: MimeLeaf): { at: number; boundary: string } | undefined {
  if (leaf.start < 3) return undefined;
  const at = text.lastIndexOf('\n', leaf.start - 2) + 1;
  const m = /^--(.+?)[ \t]*\r?\n$/s.exec(text.slice(at, leaf.start));
  return m ? { at, boundary: m[1] } : undefined;
}

/**
 * Whether the multipart keeps another part once `span` goes: a delimiter line of its boundary outside the spans
 * already taken out before it, or one after it that does not close the multipart. RFC 2046 wants one part at least.
 */
function keepsAnother(text: string, d: { at: number; boundary: string }, after: number, gone: ReadonlyArray<[number, number]>): boolean {
  const marker = `--${d.boundary}`;
  if (text.startsWith(marker, after) && !text.startsWith(`${marker}--`, after)) return true;
  for (let i = text.lastIndexOf(marker, d.at - 1); i >= 0; i = i === 0 ? -1 : text.lastIndexOf(marker, i - 1)) {
    const lineStart = i === 0 || text[i - 1] === '\n';
    const rest = text.slice(i + marker.length, text.indexOf('\n', i) < 0 ? undefined : text.indexOf('\n', i));
    if (lineStart && /^[ \t\r]*$/.test(rest) && !gone.some(([s, e]) => i >= s && i < e)) return true;
  }
  return false;
}

/**
 * Takes out of `text` (a message as a latin1 string) every attachment one of `rules` removes. The first removed
 * becomes the notice; each other one goes with its delimiter line, unless its multipart would be left with no part,
 * where a notice takes its place too.
 */
export function removeAttachments(text: string, rules: readonly CompiledRule[], guess: TypeGuess): Removal {
  const removed: RemovedFile[] = [];
  const taken: LeafAttachment[] = [];
  for (const a of leafAttachments(text, guess)) {
    const by = remover(a, rules);
    if (!by) continue;
    removed.push({ name: a.label, inside: by.inside, rule: by.rule.name });
    taken.push(a);
  }
  if (!taken.length) return { text, removed };
  const notice = noticeText(removed, rules);
  const edits: LeafEdit[] = [];
  const gone: Array<[number, number]> = [];
  for (const [i, { leaf }] of taken.entries()) {
    const d = delimiterBefore(text, leaf);
    const lineBreak = text.startsWith('\r\n', leaf.end) ? 2 : text[leaf.end] === '\n' ? 1 : 0;
    if (i > 0 && d && keepsAnother(text, d, leaf.end + lineBreak, gone)) {
      gone.push([d.at, leaf.end + lineBreak]);
      edits.push({ leaf: { ...leaf, start: d.at, end: leaf.end + lineBreak }, with: '' });
      continue;
    }
    const edit = noticeEdit(text, leaf, notice);
    if (!edit) return { text, removed: [] };
    edits.push(edit);
  }
  return { text: replaceLeaves(text, edits), removed };
}
