// What a recipient is shown of a quarantined message, in the digest and on the release page: when it arrived, who it
// says it is from, its subject and its score. Every shown value is text from the sender: decoded, stripped of control
// and direction-changing characters, and cut, so it can neither forge lines of the digest nor run on for pages.
import { headerEnd, parseHeaderBlock } from '../message/header-block.ts';
import { decodeWords } from '../text/encoded-words.ts';
import { headerValueText } from '../text/header-value.ts';
import type { QueueEntry } from '../queue/entry.ts';
import type { QueueStore } from '../queue/queue-store.ts';

export interface QuarantinedSummary {
  id: string;
  /** When it entered the quarantine (ms): the sender's Date header can say anything. */
  receivedAt: number;
  /** The From header as shown, or the envelope sender when it has none. */
  sender: string;
  subject: string;
  /** The verdict's total score; undefined when a rule or plugin quarantined it without one. */
  score?: number;
  /**
   * The address in the From shown as `sender` (the envelope sender when the From has none), lower case; undefined when
   * neither holds one (a bounce without a From). What a recipient's allow and block buttons put on their list.
   */
  senderAddress?: string;
  /** Why it is held, from the stored verdict (heldForText); undefined for an entry that kept no verdict. */
  heldFor?: string;
  /** False when only an administrator may release it (a virus: QueueEntry.recipientMayRelease). */
  recipientMayRelease: boolean;
}

/** How much of a message is read for its headers: a From and Subject further in are not worth more reading. */
const HEAD_BYTES = 64 * 1024;
/** Read first: nearly every header section ends within it, and a digest reads thousands of them. */
const FIRST_READ = 8 * 1024;
export const SHOWN_CHARS = 80;

const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]+/g;

/** `text` safe to show on one line: encoded words decoded, control characters gone, cut at `max` characters. */
export function shownText(text: string, max = SHOWN_CHARS): string {
  const clean = decodeWords(text).replace(UNSAFE, ' ').replace(/\s+/g, ' ').trim();
  const chars = [...clean];
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : clean;
}

/** Characters an address in a header cannot hold outside quotes: it ends there. */
const ADDRESS = /[^\s<>()",;:\\[\]]+@[^\s<>()",;:\\[\]]+/;

/**
 * The address of a From field: the one in angle brackets when there is one (a display name may itself look like an
 * address, `"paypal@paypal.com" <x@spam.example>`, and is not the address), else the bare one; none when the field
 * names several authors, since the user-lists plugin never allows by a From of several (no one DMARC result vouches
 * for them all), and a button offering one of them would promise what the list cannot do.
 */
export function fromAddress(value: string): string | undefined {
  const outside = value.replace(/"(?:[^"\\]|\\.)*"/g, ' ').replace(/\((?:[^()\\]|\\.)*\)/g, ' ');
  const angled = [...outside.matchAll(/<\s*([^<>\s]+@[^<>\s]+?)\s*>/g)].map((m) => m[1]);
  const found = angled.length ? angled : [...outside.replace(/<[^<>]*>/g, ' ').matchAll(new RegExp(ADDRESS.source, 'g'))].map((m) => m[0]);
  return found.length === 1 ? found[0].toLowerCase() : undefined;
}

/**
 * A rules plugin's reason names the rule before its note (`rule hold-invoice: Invoices from outside…`): the name is the
 * administrator's, the note the recipient's. A rule without a note (nor a description) keeps its name.
 */
const RULE_NAMED = /^rule [A-Za-z0-9][A-Za-z0-9_-]*: (?=\S)/;

/**
 * Why a message is held, from its stored verdict: `spam score 7.2` when the score reached the quarantine threshold,
 * else what the plugin that held it said, without its name (`virus Eicar-Test-Signature`, a rule's note). Cleaned
 * and cut like sender text, since a plugin's reason may quote the message.
 */
export function heldForText(entry: Pick<QueueEntry, 'verdict'>): string | undefined {
  const v = entry.verdict;
  if (!v) return undefined;
  const byScore = !v.reason || /^score -?[\d.]+ ≥ /.test(v.reason);
  if (byScore) return typeof v.score === 'number' ? `spam score ${scoreText(v.score)}` : undefined;
  return shownText(v.reason!.replace(/^[^:\s]+: /, '').replace(RULE_NAMED, ''), 120) || undefined;
}

/**
 * What the digest and the pages say of why a message is held: its reason alone (heldForText, which names the score
 * when the score held it); the bare score only for an entry that kept no reason. A rule's hold is explained by the
 * rule, and a score of 0.0 beside it would read as if it explained something.
 */
export const whyHeldText = (m: Pick<QuarantinedSummary, 'heldFor' | 'score'>): string =>
  m.heldFor ?? (m.score === undefined ? 'not recorded' : `score ${scoreText(m.score)}`);

/** Which message a button or link acts on, for a screen reader that reads its label alone: its subject and sender. */
export const whichText = (m: Pick<QuarantinedSummary, 'subject' | 'sender'>): string => `“${m.subject}” from ${m.sender}`;

/** Whether the recipient may release the message from the digest and the pages (QueueEntry.recipientMayRelease). */
export const recipientMayRelease = (entry: Pick<QueueEntry, 'recipientMayRelease'>): boolean => entry.recipientMayRelease !== false;

/** What the digest and the pages say of a message only an administrator may release. */
export const adminOnlyText = (heldFor: string | undefined): string =>
  `Held${heldFor ? ` (${heldFor})` : ''}: only your administrator can release this message; ask them if you need it.`;

/** A held message's first header field of a name (lower case), decoded, or undefined. */
export type HeldHeaders = (name: string) => string | undefined;

/**
 * The header fields of a held message, each value decoded alone: `field(name)` gives the first field called `name`
 * (lower case), or undefined. Reads the header section only (FIRST_READ, then up to HEAD_BYTES).
 */
export async function heldHeaders(store: QueueStore, id: string): Promise<HeldHeaders> {
  let head = await store.readHead(id, 'quarantine', FIRST_READ);
  let end = headerEnd(head);
  if (end < 0 && head.length === FIRST_READ) {
    head = await store.readHead(id, 'quarantine', HEAD_BYTES);
    end = headerEnd(head);
  }
  const fields = parseHeaderBlock((end < 0 ? head : head.subarray(0, end)).toString('latin1'));
  // The reading stopped inside the header section: its last field may end inside a character.
  const cut = end < 0 && head.length === HEAD_BYTES;
  // Each value is read alone: a From in Latin-1 says nothing of the charset of a Subject in UTF-8.
  return (name: string) => {
    const at = fields.findIndex((f) => f.name.toLowerCase() === name);
    return at < 0 ? undefined : headerValueText(fields[at].value, cut && at === fields.length - 1);
  };
}

export async function summarize(store: QueueStore, entry: QueueEntry): Promise<QuarantinedSummary> {
  return summaryOf(entry, await heldHeaders(store, entry.id));
}

/** The summary of `entry` from its header fields as `heldHeaders` read them, for a page that reads them for more. */
export function summaryOf(entry: QueueEntry, first: HeldHeaders): QuarantinedSummary {
  const heldFor = heldForText(entry);
  const from = first('from');
  const envelopeSender = entry.mailFrom.includes('@') ? entry.mailFrom.toLowerCase() : undefined;
  const senderAddress = (from === undefined ? undefined : fromAddress(from)) ?? envelopeSender;
  return {
    id: entry.id,
    receivedAt: entry.receivedAt,
    sender: shownText(from ?? `<${entry.mailFrom}>`) || `<${entry.mailFrom}>`,
    subject: shownText(first('subject') ?? '') || '(no subject)',
    ...(typeof entry.verdict?.score === 'number' ? { score: entry.verdict.score } : {}),
    ...(senderAddress ? { senderAddress } : {}),
    ...(heldFor ? { heldFor } : {}),
    recipientMayRelease: recipientMayRelease(entry),
  };
}

/**
 * The addresses a message was sent to, as one line, in the digest and on the recipient's page: each cleaned and cut
 * as sender text is (the sender chose them), at an address's longest (254).
 */
export const sentToText = (addresses: readonly string[]) => addresses.map((a) => shownText(a, 254)).join(', ');
export const scoreText = (score: number | undefined) => (score === undefined ? '-' : (Math.round(score * 10) / 10).toFixed(1));
export const dateText = (ms: number) => new Date(ms).toISOString().replace(/:\d\d\.\d+Z$/, ' UTC').replace('T', ' ');
/** A date in a column or a line of its own: to the minute, without the zone, which the column's heading or the text says (UTC). */
export const shortDateText = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
