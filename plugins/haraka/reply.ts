// Haraka's responders reduced to one table: a hook's return code and message become a Mailmoat outcome.
import { outcome, type Outcome } from '../../core/index.ts';
import { constants, type Any } from './cjs.ts';
import type { HookResult } from './runner.ts';

interface Replies {
  /** [code, default text] for DENY, DENYSOFT (absent: DENYSOFT falls through to the default, as on noop). */
  deny: [number, string];
  soft?: [number, string];
  /** DENYDISCONNECT and DENYSOFTDISCONNECT, where they differ from DENY and DENYSOFT (unrecognized_command). */
  denyDisconnect?: [number, string];
  softDisconnect?: [number, string];
  /** DISCONNECT is honoured only on connect and lookup_rdns; elsewhere it falls through to the default. */
  disconnect?: [number, string];
}

/** Haraka's reply codes per hook (connection.js `*_respond`). `%` is replaced by the address in question. */
const REPLIES: Record<string, Replies> = {
  lookup_rdns: { deny: [554, 'rDNS Lookup Failed'], soft: [421, 'rDNS Temporary Failure'], disconnect: [554, 'rDNS Lookup Failed'] },
  connect: { deny: [554, 'Your mail is not welcome here'], soft: [421, 'Come back later'], disconnect: [554, 'Your mail is not welcome here'] },
  helo: { deny: [550, 'HELO denied'], soft: [450, 'HELO denied'] },
  ehlo: { deny: [550, 'EHLO denied'], soft: [450, 'EHLO denied'] },
  mail: { deny: [550, 'sender % denied'], soft: [450, 'sender % denied'] },
  rcpt: { deny: [550, 'recipient % denied'], soft: [450, 'recipient % denied'] },
  rcpt_ok: { deny: [550, 'recipient % denied'], soft: [450, 'recipient % denied'] },
  data: { deny: [554, 'Message denied'], soft: [451, 'Message denied'] },
  data_post: { deny: [550, 'Message denied'], soft: [450, 'Message denied temporarily'] },
  unrecognized_command: { deny: [500, 'Unrecognized command'], denyDisconnect: [521, 'Unrecognized command'], softDisconnect: [421, 'Unrecognized command'] },
  noop: { deny: [500, 'Stop wasting my time'] },
  vrfy: { deny: [550, 'Access Denied'], soft: [450, 'Lookup Failed'] },
};

function isDsn(msg: Any): boolean {
  return typeof msg === 'object' && msg !== null && msg.constructor?.name === 'DSN';
}

/** Reply lines of a plugin message: `\n` splits a string, arrays stay lines, empty lines go. */
function lines(msg: Any): string[] {
  // Array.from: a plain plugin's array comes from its vm realm.
  const list: string[] = Array.isArray(msg) ? Array.from(msg, String) : String(msg).split('\n');
  return list.filter((l) => l.length > 0);
}

/**
 * The outcome of a hook's result, or undefined when Haraka would carry on (CONT, OK on most hooks, STOP…).
 * A DSN message overrides the code, as in Haraka: `next(DENYSOFT, DSN.sec_spf_fail())` answers 550.
 * @param subject the address named in default texts (`sender <a@b> denied`).
 */
export function toOutcome(hook: string, r: HookResult, subject = ''): Outcome | undefined {
  const replies = REPLIES[hook];
  if (!replies) return undefined;
  const c = constants;
  let reply: [number, string] | undefined;
  let close = false;
  switch (r.retval) {
    case c.deny: reply = replies.deny; break;
    case c.denysoft: reply = replies.soft; break;
    case c.denydisconnect: reply = replies.denyDisconnect ?? replies.deny; close = true; break;
    case c.denysoftdisconnect: reply = replies.softDisconnect ?? replies.soft; close = true; break;
    case c.disconnect: reply = replies.disconnect; close = true; break;
    default: return undefined;
  }
  if (!reply) return undefined;
  let [code, text] = reply;
  text = text.replace('%', subject);
  let enhanced: string | undefined;
  let replyLines: string[];
  if (isDsn(r.msg)) {
    code = Number(r.msg.code);
    enhanced = `${r.msg.cls}.${r.msg.sub}.${r.msg.det}`;
    replyLines = lines(r.msg.msg || r.msg.default_msg || text);
  } else {
    replyLines = r.msg ? lines(r.msg) : [];
    if (!replyLines.length) replyLines = [text];
  }
  const body = replyLines.length === 1 ? replyLines[0] : replyLines;
  const opts = enhanced ? { code, enhanced } : { code };
  if (close) return outcome.disconnect(replyLines.join(' '), opts);
  return code >= 500 ? outcome.reject(body, opts) : outcome.tempfail(body, opts);
}

/** The text of a message given with OK (vrfy, quit, a plugin's own respond): lines, or the fallback when empty. */
export function replyText(msg: Any, fallback?: string): string | string[] | undefined {
  const m = isDsn(msg) ? msg.msg || msg.default_msg : msg;
  const l = m ? lines(m) : [];
  if (!l.length) return fallback;
  return l.length === 1 ? l[0] : l;
}
