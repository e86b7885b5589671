// remove_attachments: the attachments a rule's attachment criteria match (or all of them) taken out of the raw
// message, every other byte kept, and one text/plain notice in the place of the first, naming each file removed.
// A ZIP or an attached message goes whole when something in it matches: what is inside is not rewritten.
import { LEAF_MAX_DEPTH, delimiters, headerValue, leafParts, replaceLeaves, splitPart, type LeafEdit, type MimeLeaf } from '../../core/message/mime-leaves.ts';
import { parseMimeValue } from '../../core/message/mime-params.ts';
import { isAscii } from '../../core/index.ts';
import { leafAttachments, type LeafAttachment, type TypeGuess } from './leaf-facts.ts';
import { editedHeader, leafShape } from './part-fields.ts';
import { encodeWhole } from '../../core/message/seven-bit-encoders.ts';
import type { CompiledRule } from './rule-set.ts';

const DEFAULT_NOTICE = 'The mail gateway removed attachments from this message:';

export interface RemovedFile {
  /** The attachment's name (its type when it has none). */
  name: string;
  /** What in it matched, when that was a file in the ZIP or in the attached message rather than the part itself. */
  inside?: string;
  rule: string;
}

export interface Removal {
  text: string;
  removed: RemovedFile[];
  /** The parts the result should read as (`leafShape` of each): the kept ones and each notice, in order. */
  expected: string[];
}

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
/**
 * A file name as the notice shows it: control characters (C0, DEL, C1), line and paragraph separators and bidi
 * controls each become a space. A name is the sender's text: `a.zip%0D%0A--B` would otherwise write a delimiter line
 * into the notice, and a right-to-left override shows `exe.pdf` for a program.
 */
const shownName = (name: string) => name.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, ' ');

function noticeText(removed: RemovedFile[], rules: readonly CompiledRule[]): string {
  const why = (r: CompiledRule) => r.description?.replace(/\s+/g, ' ').trim() || `rule ${r.name}`;
  const sections = new Map<string, string[]>();
  for (const rule of rules) {
    const files = removed.filter((f) => f.rule === rule.name);
    if (!files.length) continue;
    const heading = rule.actions.removeAttachments?.notice ?? DEFAULT_NOTICE;
    const lines = sections.get(heading) ?? [];
    for (const f of files) lines.push(`- ${shownName(f.name)}${f.inside ? ` (it held ${shownName(f.inside)})` : ''}: ${why(rule)}`);
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
    body: ascii ? notice : encodeWhole('quoted-printable', Buffer.from(notice, 'utf8')),
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

interface Delimiter { at: number; next: number; close: boolean }

/** A multipart's body: where it starts, its boundary and its delimiter lines. */
interface MultipartBody { bodyStart: number; boundary: string; delims: Delimiter[] }

/**
 * The multipart whose part starts at `partStart`, found by walking down from the message as the leaf reader does;
 * undefined when the part is not one of a multipart's. `seen` keeps each body's delimiters for the next part asked.
 */
function multipartAround(text: string, partStart: number, seen: Map<string, Delimiter[]>): MultipartBody | undefined {
  let start = 0, end = text.length;
  for (let depth = 0; depth < LEAF_MAX_DEPTH; depth++) {
    // Read as the leaf reader reads it, so that both find the same parts.
    const { headers, bodyStart } = splitPart(text, start, end);
    const ct = parseMimeValue(headerValue(headers, 'content-type') ?? '');
    const boundary = ct.params.boundary;
    if (!ct.type.startsWith('multipart/') || !boundary) return undefined;
    const key = `${bodyStart}:${end}`;
    const delims = seen.get(key) ?? delimiters(text, bodyStart, end, boundary);
    seen.set(key, delims);
    const inside = delims.findIndex((d, k) => !d.close && d.next <= partStart && (k + 1 === delims.length || delims[k + 1].at > partStart));
    if (inside < 0) return undefined;
    if (delims[inside].next === partStart) return { bodyStart, boundary, delims };
    start = delims[inside].next;
    end = inside + 1 < delims.length ? delims[inside + 1].at : end;
  }
  return undefined;
}

/**
 * Whether the multipart keeps another part once `leaf` goes: a part of its own, not taken out already, or one after
 * `leaf` (whose delimiter starts at `after`). RFC 2046 wants one part at least. A "--boundary" line outside the
 * multipart's own body (in an earlier part, or a sibling multipart under the same boundary) is none of its parts.
 */
function keepsAnother(text: string, leaf: MimeLeaf, after: number, gone: ReadonlyArray<[number, number]>, seen: Map<string, Delimiter[]>): boolean {
  const around = multipartAround(text, leaf.start, seen);
  if (!around) return false;
  const marker = `--${around.boundary}`;
  if (text.startsWith(marker, after) && !text.startsWith(`${marker}--`, after)) return true;
  return around.delims.some((d) => !d.close && d.at < leaf.start && d.next !== leaf.start && !gone.some(([s, e]) => d.at >= s && d.at < e));
}

/**
 * Takes out of `text` (a message as a latin1 string) every attachment one of `rules` removes. The first removed
 * becomes the notice; each other one goes with its delimiter line, unless its multipart would be left with no part,
 * where a notice takes its place too.
 */
export function removeAttachments(text: string, rules: readonly CompiledRule[], guess: TypeGuess): Removal {
  const removed: RemovedFile[] = [];
  const taken: LeafAttachment[] = [];
  const leaves = leafParts(text);
  for (const a of leafAttachments(text, leaves, guess)) {
    const by = remover(a, rules);
    if (!by) continue;
    removed.push({ name: a.label, inside: by.inside, rule: by.rule.name });
    taken.push(a);
  }
  if (!taken.length) return { text, removed, expected: leaves.map(leafShape) };
  const notice = noticeText(removed, rules);
  const edits: LeafEdit[] = [];
  const gone: Array<[number, number]> = [];
  const seen = new Map<string, Delimiter[]>();
  // Each leaf's expected shape, by its start: a notice where one goes, nothing where a part went whole.
  const becomes = new Map<number, string | undefined>();
  for (const [i, { leaf }] of taken.entries()) {
    const d = delimiterBefore(text, leaf);
    const lineBreak = text.startsWith('\r\n', leaf.end) ? 2 : text[leaf.end] === '\n' ? 1 : 0;
    if (i > 0 && d && keepsAnother(text, leaf, leaf.end + lineBreak, gone, seen)) {
      gone.push([d.at, leaf.end + lineBreak]);
      edits.push({ leaf: { ...leaf, start: d.at, end: leaf.end + lineBreak }, with: '' });
      becomes.set(leaf.start, undefined);
      continue;
    }
    const edit = noticeEdit(text, leaf, notice);
    if (!edit) return { text, removed: [], expected: leaves.map(leafShape) };
    edits.push(edit);
    becomes.set(leaf.start, leafShape({ ...leaf, contentType: 'text/plain', names: [] }));
  }
  const expected = leaves.flatMap((l) => (becomes.has(l.start) ? [becomes.get(l.start)].filter((x) => x !== undefined) : [leafShape(l)]));
  return { text: replaceLeaves(text, edits), removed, expected };
}
