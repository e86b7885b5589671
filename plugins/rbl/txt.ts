// The TXT record a list publishes beside its A answer (usually a URL saying why the client is listed), for the `{txt}`
// placeholder of a refusal text, as Postfix's $rbl_reason. Shared with the urlbl plugin.
import type { DnsResolver } from '../../core/index.ts';

/** A reply line quotes it: a list's text must not make the line long, nor end it early. */
export const TXT_MAX = 200;

/** The placeholder a refusal text uses to ask for the TXT record; without it the record is never looked up. */
export const TXT_PLACEHOLDER = '{txt}';

/**
 * The records as one piece of reply text: printable ASCII only (control characters, CR and LF become spaces, other
 * bytes `?`), runs of spaces made one, records joined by `; `, at most TXT_MAX characters.
 */
export function replyTxt(records: string[]): string {
  const text = records
    .map((r) => r.replace(/[\x00-\x1f\x7f]+/g, ' ').replace(/[^\x20-\x7e]/g, '?').replace(/ {2,}/g, ' ').trim())
    .filter((r) => r !== '')
    .join('; ');
  return text.length > TXT_MAX ? text.slice(0, TXT_MAX - 3).trimEnd() + '...' : text;
}

/**
 * The TXT text of `name`, or '' when there is none or it cannot be had: the refusal never depends on it, so this
 * never rejects.
 */
export async function lookupTxt(dns: DnsResolver, name: string): Promise<string> {
  try {
    return replyTxt(await dns.resolveTxt(name));
  } catch {
    return '';
  }
}
