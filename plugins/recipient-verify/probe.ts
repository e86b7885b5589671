// One address probe, as Postfix's verify does it: connect, EHLO (STARTTLS, AUTH as a delivery would), MAIL FROM:<>,
// RCPT TO:<address>, QUIT. DATA is never sent, so nothing can be delivered by a probe.
import { SmtpConnection, SmtpClientError, type Reply } from '../../core/relay/smtp-client.ts';
import { aLabelAddress } from '../../core/text/idn-address.ts';
import type { SmarthostTarget } from '../../core/relay/smarthost.ts';
import { isAscii } from '../../core/text/ascii.ts';
import type { Logger } from '../../core/index.ts';

/** `accepted`: 2xx to RCPT; `refused`: 5xx to RCPT; `unknown`: anything that says nothing about the address. */
export type ProbeResult =
  | { status: 'accepted' | 'refused'; reply: string }
  | { status: 'unknown'; reason: string };

/** A reply as one line of bounded length: it is quoted in our own reply to the client. */
export function oneLine(r: Reply): string {
  return quotable(`${r.code} ${r.text}`);
}

/**
 * Printable ASCII of at most 203 characters: an SMTP reply line has no charset, so even the mark of a cut is ASCII.
 * Also applied to what the cache gives back, which another version (or another program on a shared Redis) may have written.
 */
export function quotable(text: string): string {
  const clean = text.replace(/[\r\n]+/g, ' ').replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 200 ? `${clean.slice(0, 200)}...` : clean;
}

/**
 * The whole probe within `target.timeout`: the client's timeout is per read, and a server that answers each line just
 * in time would otherwise hold the RCPT past the plugin's own timeout in the chain.
 */
export function probe(target: SmarthostTarget, address: string, heloName: string, log: Logger): Promise<ProbeResult> {
  const session: { conn?: SmtpConnection; over?: boolean } = {};
  return new Promise<ProbeResult>((resolve) => {
    const timer = setTimeout(() => {
      session.over = true;
      session.conn?.destroy();
      resolve({ status: 'unknown', reason: `no answer from ${target.host}:${target.port} within ${target.timeout} ms` });
    }, target.timeout);
    ask(target, address, heloName, log, session).then((r) => { clearTimeout(timer); resolve(r); });
  });
}

async function ask(target: SmarthostTarget, address: string, heloName: string, log: Logger, session: { conn?: SmtpConnection; over?: boolean }): Promise<ProbeResult> {
  let conn: SmtpConnection;
  try {
    conn = await SmtpConnection.open({ ...target, heloName, log });
  } catch (e) {
    return { status: 'unknown', reason: e instanceof SmtpClientError ? e.replyText : String(e) };
  }
  // Opened after the deadline: nobody waits for the answer any more.
  if (session.over) { conn.destroy(); return { status: 'unknown', reason: 'too late' }; }
  session.conn = conn;
  try {
    const utf8 = !isAscii(address);
    const offered = conn.extensions.has('SMTPUTF8');
    // What the relay would do with this address later (core/relay/smtp-client.ts): without SMTPUTF8 it sends an ASCII
    // local part with its domain in A-labels, and bounces only a local part beyond ASCII.
    if (utf8 && !offered && aLabelAddress(address) === undefined) {
      return { status: 'refused', reply: `553 5.6.7 the address is beyond ASCII and ${target.host} does not offer SMTPUTF8` };
    }
    const { mail, rcpt } = await conn.verify('', address, { smtputf8: utf8 && offered });
    // A server that refuses the null sender says nothing about the recipient; real mail has a sender and may pass.
    if (!rcpt) return { status: 'unknown', reason: `MAIL FROM:<> refused: ${oneLine(mail)}` };
    if (rcpt.code >= 200 && rcpt.code < 300) return { status: 'accepted', reply: oneLine(rcpt) };
    if (rcpt.code >= 500 && rcpt.code < 600) return { status: 'refused', reply: oneLine(rcpt) };
    return { status: 'unknown', reason: oneLine(rcpt) };
  } catch (e) {
    return { status: 'unknown', reason: e instanceof SmtpClientError ? e.replyText : String(e) };
  } finally {
    // The RCPT's answer is all we wait for; QUIT's goes on in the background.
    conn.quit().catch(() => undefined);
  }
}
