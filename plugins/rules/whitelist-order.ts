// A whitelist that anyone can claim, ahead of an attachment block: a rule that ends the rules (`stop`, `accept`) on
// the sender a client writes (MAIL FROM, the From header) lets a forged sender's setup.exe past every attachment rule
// after it. PMG ranks its attachment and virus blocks above its whitelists for this reason. Said as a warning at start,
// reload and check-config; the config stays valid (the admin may have a reason).
import { isMapping } from './criteria.ts';
import type { CompiledRule, RuleSet } from './rule-set.ts';

/** Header fields that name the sender, all written by the client. */
const SENDER_FIELDS = new Set(['from', 'sender', 'reply-to', 'return-path']);

/** Criteria a client cannot forge: where it connects from, whether it logged in (`outbound` too), what the checks before found. */
const VOUCHING = new Set(['client_ip', 'authenticated', 'relay_network', 'outbound', 'symbol', 'score']);

/**
 * How a criterion can be met without a vouching fact: `open` it can, and `sender` one such way rests on a sender
 * fact (with only the other criteria, such as the time or the subject, beside it).
 */
interface Reach { open: boolean; sender: boolean }

function allOf(parts: Reach[]): Reach {
  const open = parts.every((p) => p.open);
  return { open, sender: open && parts.some((p) => p.sender) };
}

function anyOf(parts: Reach[]): Reach {
  return { open: parts.some((p) => p.open), sender: parts.some((p) => p.open && p.sender) };
}

/** Whether a criterion tree holds a vouching criterion anywhere. */
function vouches(raw: unknown): boolean {
  if (Array.isArray(raw)) return raw.some(vouches);
  if (!isMapping(raw)) return false;
  return Object.entries(raw).some(([k, v]) => VOUCHING.has(k) || ((k === 'all' || k === 'any' || k === 'not') && vouches(v)));
}

function isSenderHeader(raw: unknown): boolean {
  const one = (h: unknown) => isMapping(h) && (h.name === undefined || h.name === '*' || (typeof h.name === 'string' && SENDER_FIELDS.has(h.name.toLowerCase())));
  return Array.isArray(raw) ? raw.some(one) : one(raw);
}

function reach(raw: unknown): Reach {
  if (Array.isArray(raw)) return allOf(raw.map(reach));
  if (!isMapping(raw)) return { open: false, sender: false };
  return allOf(Object.entries(raw).map(([key, value]): Reach => {
    if (key === 'all') return Array.isArray(value) ? allOf(value.map(reach)) : { open: false, sender: false };
    if (key === 'any') return Array.isArray(value) ? anyOf(value.map(reach)) : { open: false, sender: false };
    // `not: { symbol: SPF_FAIL }` beside a sender is a check of it: taken as vouching, so as not to warn of it.
    if (key === 'not') return { open: !vouches(value), sender: false };
    if (VOUCHING.has(key)) return { open: false, sender: false };
    if (key === 'from' || (key === 'header' && isSenderHeader(value))) return { open: true, sender: true };
    return { open: true, sender: false };
  }));
}

/** Whether a criterion tree reads attachments where a match can rest on them (not under `not`). */
function readsAttachments(raw: unknown): boolean {
  if (Array.isArray(raw)) return raw.some(readsAttachments);
  if (!isMapping(raw)) return false;
  return Object.entries(raw).some(([k, v]) => k === 'attachment' || ((k === 'all' || k === 'any') && readsAttachments(v)));
}

const refuses = (r: CompiledRule) => ['reject', 'quarantine', 'tempfail'].includes(r.actions.final?.kind ?? '');

/**
 * One warning per rule that ends the rules on sender facts alone while refusing attachment rules come after it,
 * led by `at` (`plugins[2]`) and the rule's key path.
 */
export function whitelistOrderWarnings(set: RuleSet, at: string): string[] {
  const out: string[] = [];
  for (const [i, rule] of set.rules.entries()) {
    const ends = rule.actions.stop ? 'stop' : rule.actions.final?.kind === 'accept' ? 'accept' : undefined;
    if (!ends || rule.written === undefined || rule.written === null) continue;
    const r = reach(rule.written);
    if (!r.open || !r.sender) continue;
    const blocked = set.rules.slice(i + 1).filter((x) => refuses(x) && readsAttachments(x.written)).map((x) => x.name);
    if (!blocked.length) continue;
    const named = blocked.length > 3 ? `${blocked.slice(0, 3).join(', ')} and ${blocked.length - 3} more` : blocked.join(', ');
    out.push(`${at}.${rule.at}: its ${ends} rests on the sender a client writes (MAIL FROM or a From-type header), which anyone can forge, `
      + `and ends the rules before ${named}, which refuse${blocked.length > 1 ? '' : 's'} attachments: a forged sender's attachment gets past `
      + `${blocked.length > 1 ? 'them' : 'it'}. List the attachment rules first, or add a criterion a sender cannot forge (client_ip, authenticated, a symbol such as DMARC_PASS)`);
  }
  return out;
}
