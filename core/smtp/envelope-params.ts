// The parameters of MAIL FROM and RCPT TO as the client wrote them. smtp-server decodes every value as xtext before
// the session sees it, keeping what is not xtext as sent (`ENVID=a+ZZ`) and calling a decoded control character a bad
// address, so the encoding of ENVID and ORCPT can only be judged here; and it answers REQUIRETLS itself (530 in
// plaintext, as if it were offered), though the gateway does not offer it.
import { ENVID_MAX, envidAllowed, orcptAddress } from '../queue/dsn-params.ts';
import type { Reply } from './reply.ts';
import { splitPathAndParams } from './address-command.ts';

/** The parameters of the extensions the listeners offer (SIZE, 8BITMIME, SMTPUTF8, and AUTH= from relaying MTAs). */
export const MAIL_PARAMS: ReadonlySet<string> = new Set(['SIZE', 'BODY', 'SMTPUTF8', 'AUTH']);
export const RCPT_PARAMS: ReadonlySet<string> = new Set<string>();
/** With DSN offered (RFC 3461). */
export const MAIL_PARAMS_DSN: ReadonlySet<string> = new Set([...MAIL_PARAMS, 'RET', 'ENVID']);
export const RCPT_PARAMS_DSN: ReadonlySet<string> = new Set([...RCPT_PARAMS, 'NOTIFY', 'ORCPT']);
const NONE: ReadonlySet<string> = new Set<string>();
const withoutAuth = (names: ReadonlySet<string>): ReadonlySet<string> => new Set([...names].filter((n) => n !== 'AUTH'));
const MAIL_PARAMS_NO_AUTH = withoutAuth(MAIL_PARAMS);
const MAIL_PARAMS_DSN_NO_AUTH = withoutAuth(MAIL_PARAMS_DSN);

/** What the session's greeting offered: EHLO's keywords (none after HELO), DSN, and AUTH (after TLS, where enabled). */
export interface OfferedExtensions { ehlo: boolean; dsn: boolean; auth: boolean }

/**
 * The parameters `verb` may carry in a session that was offered `o`. After HELO nothing is offered, so every
 * parameter gets 555 (RFC 5321 §4.1.1.11), as Postfix answers; AUTH= only where the AUTH keyword was listed.
 */
export function offeredParams(verb: EnvelopeVerb, o: OfferedExtensions): ReadonlySet<string> {
  if (!o.ehlo) return NONE;
  if (verb === 'RCPT TO') return o.dsn ? RCPT_PARAMS_DSN : RCPT_PARAMS;
  if (o.dsn) return o.auth ? MAIL_PARAMS_DSN : MAIL_PARAMS_DSN_NO_AUTH;
  return o.auth ? MAIL_PARAMS : MAIL_PARAMS_NO_AUTH;
}

/**
 * RFC 3461 §4: xtext is "!" to "~" except "+" and "=", and "+" followed by two upper-case hex digits
 * (`+2B` is a plus sign).
 */
const XTEXT = /^(?:[!-*,-<>-~]|\+[0-9A-F]{2})*$/;
/** RFC 6533 §3's utf-8-addr-xtext and -unitext: no "+", "=" or bare "\", `\x{HEX}` escapes, UTF-8 beyond ASCII. */
const UTF8_ADDR = /^(?:[!-*,-<>-[\]-~]|[^\x00-\x7f]|\\x\{[0-9A-Fa-f]{1,6}\})+$/;

export function isXtext(value: string): boolean { return XTEXT.test(value); }

export function decodeXtext(value: string): string {
  return value.replace(/\+([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

export type EnvelopeVerb = 'MAIL FROM' | 'RCPT TO';

/**
 * The parameters of a command line (`MAIL FROM:<a@b> SIZE=10 ENVID=x`), after a path whose quoted local part may hold
 * spaces (`<"a b"@b.example>`), names upper-cased, values as sent (undefined for a keyword without `=`); undefined
 * when the line is not `verb`.
 */
export function rawParams(line: string, verb: EnvelopeVerb): Array<{ name: string; value: string | undefined }> | undefined {
  const [head, ...rest] = line.split(':');
  if (head.trim().toUpperCase() !== verb) return undefined;
  const words = splitPathAndParams(rest.join(':')).params;
  const out: Array<{ name: string; value: string | undefined }> = [];
  for (const w of words) {
    const eq = w.indexOf('=');
    const name = (eq < 0 ? w : w.slice(0, eq)).toUpperCase();
    if (name) out.push({ name, value: eq < 0 ? undefined : w.slice(eq + 1) });
  }
  return out;
}

const unsupported = (name: string): Reply => ({ code: 555, text: `5.5.4 Unsupported parameter ${name.slice(0, 40)}` });
const badEnvid = (): Reply => ({ code: 501, text: `5.5.4 ENVID must be 1 to ${ENVID_MAX} printable ASCII characters in xtext (RFC 3461)` });
const badOrcpt = (): Reply => ({ code: 501, text: '5.5.4 ORCPT must be addr-type;xtext (RFC 3461)' });

/** The encoding here; what the decoded value says, as the queue entry will keep it (core/queue/dsn-params.ts). */
function envidOk(raw: string | undefined): boolean {
  return !!raw && isXtext(raw) && envidAllowed(decodeXtext(raw));
}

/**
 * The encoding here; what the decoded address says, as the queue entry will keep it (core/queue/dsn-params.ts). A
 * utf-8 address's escapes are not xtext: what it says is judged when the session reads it (parseRcptDsn).
 */
function orcptOk(raw: string | undefined): boolean {
  const m = raw === undefined ? null : /^([A-Za-z0-9][A-Za-z0-9-]*);(.+)$/.exec(raw);
  if (!m) return false;
  const type = m[1].toLowerCase();
  if (type === 'utf-8') return UTF8_ADDR.test(m[2]);
  return isXtext(m[2]) && orcptAddress(type, decodeXtext(m[2])) !== undefined;
}

/**
 * What is wrong with the parameters of a MAIL FROM or RCPT TO line, given the ones `known` (offered): a parameter of
 * an extension not offered gets 555 5.5.4 (RFC 5321 §4.1.1.11), REQUIRETLS's included; an ENVID or ORCPT whose
 * value is not well encoded gets 501 5.5.4 naming it. The rest is left to smtp-server and the session.
 */
export function envelopeParamsProblem(line: string, verb: EnvelopeVerb, known: ReadonlySet<string>): Reply | undefined {
  const params = rawParams(line, verb);
  if (!params) return undefined;
  for (const p of params) {
    if (!known.has(p.name)) return unsupported(p.name);
    if (p.name === 'ENVID' && !envidOk(p.value)) return badEnvid();
    if (p.name === 'ORCPT' && !orcptOk(p.value)) return badOrcpt();
  }
  return undefined;
}
