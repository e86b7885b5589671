// The DSN parameters (RFC 3461) a client gave on MAIL FROM and RCPT TO: checked at the front door, kept on the queue
// entry, and read back when a notice is due.
import type { MessageDsn, NotifyKeyword, RecipientDsn } from './entry.ts';

const NOTIFY_WORDS = new Set(['NEVER', 'SUCCESS', 'FAILURE', 'DELAY']);
/** RFC 3461 §4.4 and §4.2 limits, as Postfix enforces them. */
export const ENVID_MAX = 100;
const ORCPT_MAX = 500;

/** RFC 6533 §3's utf-8-addr-xtext escapes (`\x{20AC}`) back to characters. */
function unescapeUtf8Addr(v: string): string | undefined {
  let bad = false;
  const out = v.replace(/\\x\{([0-9A-Fa-f]{1,6})\}/g, (_m, hex: string) => {
    const cp = parseInt(hex, 16);
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) { bad = true; return ''; }
    return String.fromCodePoint(cp);
  });
  return bad ? undefined : out;
}

/**
 * Whether an ENVID, xtext-decoded, may be kept: printable ASCII only (RFC 3461 §4.4), since it goes back verbatim
 * into a header-like field of the notice. The front door asks this too, to answer before smtp-server does.
 */
export function envidAllowed(v: string): boolean {
  return v !== '' && v.length <= ENVID_MAX && /^[\x20-\x7e]+$/.test(v);
}

/**
 * The address of an ORCPT of `type` (lower case), xtext-decoded; undefined when it may not be kept. Anything beyond
 * printable ASCII needs the utf-8 type and its escapes; a raw control would reach the notice.
 */
export function orcptAddress(type: string, xtextDecoded: string): string | undefined {
  const address = type === 'utf-8' ? unescapeUtf8Addr(xtextDecoded) : xtextDecoded;
  if (address === undefined || address.length > ORCPT_MAX || /[\x00-\x1f\x7f]/.test(address)) return undefined;
  if (type !== 'utf-8' && /[^\x20-\x7e]/.test(address)) return undefined;
  return address;
}

/**
 * The DSN parameters of MAIL FROM, already xtext-decoded by smtp-server; a string says what is wrong with them.
 * Only RET and ENVID are read: the other parameters are someone else's business.
 */
export function parseMailDsn(args: Record<string, string | true>): MessageDsn | string {
  const out: MessageDsn = {};
  if (args.RET !== undefined) {
    const v = typeof args.RET === 'string' ? args.RET.toUpperCase() : '';
    if (v !== 'FULL' && v !== 'HDRS') return 'RET must be FULL or HDRS';
    out.ret = v;
  }
  if (args.ENVID !== undefined) {
    const v = typeof args.ENVID === 'string' ? args.ENVID : '';
    if (!envidAllowed(v)) return `ENVID must be 1 to ${ENVID_MAX} printable ASCII characters (xtext)`;
    out.envid = v;
  }
  return out;
}

/** The DSN parameters of RCPT TO (xtext-decoded); a string says what is wrong with them. */
export function parseRcptDsn(args: Record<string, string | true>): RecipientDsn | string {
  const out: RecipientDsn = {};
  if (args.NOTIFY !== undefined) {
    const words = typeof args.NOTIFY === 'string' ? args.NOTIFY.toUpperCase().split(',') : [''];
    if (!words.every((w) => NOTIFY_WORDS.has(w))) return 'NOTIFY must be NEVER, or a list of SUCCESS, FAILURE and DELAY';
    if (words.includes('NEVER') && words.length > 1) return 'NOTIFY=NEVER cannot be combined with other values';
    out.notify = [...new Set(words)] as NotifyKeyword[];
  }
  if (args.ORCPT !== undefined) {
    const m = typeof args.ORCPT === 'string' ? /^([A-Za-z0-9][A-Za-z0-9-]*);(.+)$/.exec(args.ORCPT) : null;
    if (!m) return 'ORCPT must be addr-type;xtext';
    const type = m[1].toLowerCase();
    const address = orcptAddress(type, m[2]);
    if (address === undefined) return 'ORCPT must be addr-type;xtext';
    out.orcpt = { type, address };
  }
  return out;
}

/** The recipient's fields for its queue entry: its DSN parameters as RCPT TO gave them, nothing when it gave none. */
export function recipientDsnFields(params: Record<string, string | true>): RecipientDsn {
  const d = parseRcptDsn(params);
  return typeof d === 'string' ? {} : d;
}

/** The message's fields for its queue entry from the parameters of MAIL FROM. */
export function messageDsnFields(params: Record<string, string | true> | undefined): MessageDsn {
  const d = params ? parseMailDsn(params) : {};
  return typeof d === 'string' ? {} : d;
}

/**
 * Whether a notice of `kind` may be sent about this recipient (RFC 3461 §4.1): without NOTIFY, as if it were not
 * there (failure and delay notices as configured, no success notice); NEVER silences all of them.
 */
export function wantsNotice(r: RecipientDsn, kind: 'failure' | 'delay' | 'success'): boolean {
  if (!r.notify) return kind !== 'success';
  return r.notify.includes(kind.toUpperCase() as NotifyKeyword);
}
