// What the gateway's ARC set is to be (RFC 8617): its instance and chain validation status (cv), read from the ARC
// sets the message carries and from the gateway's own Authentication-Results; or why the message leaves unsealed.
import type { ParsedField } from './mailauth-parts.ts';
import type { LabelOf } from '../metrics.ts';

/** RFC 8617 allows 50 ARC sets on a message; a sealer past that would only make the chain fail. */
export const MAX_ARC_SETS = 50;

/** Why mail this config seals left unsealed: `arc_unsealed{reason}`. */
export type UnsealedReason = LabelOf<'arc_unsealed'>;

/** The ARC sets a message carries, as far as adding one needs: the highest instance, and what its ARC-Seal says of cv. */
export interface PresentChain { highest: number; lastCv?: string }

/** The gateway's own Authentication-Results: its authserv-id, its method results, and its `arc=` result if any. */
export interface OwnResults { authservId: string; clauses: string[]; arc?: string }

export type SealPlan = { i: number; cv: 'none' | 'pass' | 'fail'; authResults: string } | { unsealed: UnsealedReason; why: string };

const ARC_FIELDS = new Set(['arc-seal', 'arc-message-signature', 'arc-authentication-results']);

/** A field's value, unfolded, without its name. */
const valueOf = (f: ParsedField): string => f.line.toString('latin1').slice(f.line.indexOf(':') + 1).replace(/\r\n/g, '').trim();

/**
 * `text` cut at each `;` that is outside a comment and a quoted string (RFC 8601's grammar): a comment may hold
 * anything, `dmarc=pass (p=NONE arc=pass)` among it.
 */
export function splitClauses(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') { i++; continue; }
    if (quoted) { if (c === '"') quoted = false; continue; }
    if (c === '"') quoted = true;
    else if (c === '(') depth++;
    else if (c === ')' && depth > 0) depth--;
    else if (c === ';' && depth === 0) { parts.push(text.slice(start, i).trim()); start = i + 1; }
  }
  parts.push(text.slice(start).trim());
  return parts.filter(Boolean);
}

/** The `name=value` tags of an ARC field, names lower-cased; clauses that are not one tag are passed over. */
function tagsOf(value: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const part of value.split(';')) {
    const m = /^\s*([a-z]+)\s*=\s*(\S*)\s*$/i.exec(part);
    if (m) tags.set(m[1].toLowerCase(), m[2]);
  }
  return tags;
}

/**
 * The highest instance among the ARC fields of `header` and the cv of that instance's ARC-Seal. The fields are read one
 * by one rather than as mailauth's chain, which refuses a chain with a gap or a field twice: such a chain failed at
 * acceptance already, and the set added after it must still come after its highest instance.
 */
export function presentChain(header: ParsedField[]): PresentChain {
  let highest = 0;
  let lastCv: string | undefined;
  for (const f of header) {
    if (!f.key || !ARC_FIELDS.has(f.key)) continue;
    const tags = tagsOf(valueOf(f));
    const i = Number(tags.get('i'));
    if (!Number.isInteger(i) || i < 1) continue;
    if (i > highest) { highest = i; lastCv = undefined; }
    if (i === highest && f.key === 'arc-seal') lastCv = tags.get('cv')?.toLowerCase();
  }
  return { highest, lastCv };
}

/**
 * The first Authentication-Results among the fields the gateway added (the queue entry's prepended ones: a client's
 * own cannot be among them), which the dmarc plugin writes with the gateway's authserv-id.
 */
export function ownResults(added: ParsedField[]): OwnResults | undefined {
  const field = added.find((f) => f.key === 'authentication-results');
  if (!field) return undefined;
  const [authservId, ...clauses] = splitClauses(valueOf(field));
  if (!authservId) return undefined;
  const arc = clauses.map((c) => /^arc=([a-z]+)/i.exec(c)?.[1].toLowerCase()).find(Boolean);
  return { authservId, clauses: clauses.filter((c) => c.toLowerCase() !== 'none'), arc };
}

/** The ARC-Authentication-Results text after `i=N; `: folded between clauses, so no line nears SMTP's limit. */
function authResultsText(own: OwnResults, withArc: boolean): string {
  const clauses = withArc || own.arc ? own.clauses : [...own.clauses, 'arc=none'];
  return [`${own.authservId}`, ...clauses].join(';\r\n ');
}

/**
 * The set to add to a message carrying `chain`, whose results at acceptance were `own`. A chain whose newest set says
 * cv=fail has ended, and one at the limit can take no more: RFC 8617 has a sealer add nothing then. A chain the
 * gateway found failing gets cv=fail (its seal then covers its own set alone, as mailauth does); a passing one cv=pass.
 */
export function sealPlan(chain: PresentChain, own: OwnResults | undefined): SealPlan {
  if (!own) {
    return { unsealed: 'no_auth_results', why: 'no Authentication-Results of the gateway\'s own: the dmarc plugin is not in the chain, its header is off, or it skipped this client' };
  }
  if (chain.lastCv === 'fail') return { unsealed: 'chain_ended', why: `its ARC chain has ended: set i=${chain.highest} says cv=fail` };
  if (chain.highest >= MAX_ARC_SETS) return { unsealed: 'chain_ended', why: `it carries ${chain.highest} ARC sets, the most RFC 8617 allows` };
  if (chain.highest === 0) return { i: 1, cv: 'none', authResults: authResultsText(own, false) };
  if (!own.arc) {
    return { unsealed: 'no_auth_results', why: 'it carries an ARC chain, and the gateway\'s Authentication-Results has no arc= result to give it a cv (the dmarc plugin\'s arc is off)' };
  }
  return { i: chain.highest + 1, cv: own.arc === 'pass' ? 'pass' : 'fail', authResults: authResultsText(own, true) };
}
