// RFC 5321's rules for a few commands where smtp-server is more lenient, answered as Postfix answers them, the state a
// refused HELO or EHLO leaves, and the enhanced code of its own drop for unknown verbs. Applied before patches.ts, so
// they take the place of smtp-server's own handling: a plugin's rset hook is still asked first, and a reply it gives
// stands.
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { RawConnection } from './patches.ts';

type Handler = (this: RawConnection, command: Buffer, callback: () => void) => void;
type Send = RawConnection['send'];

/** smtp-server's text for its tenth unknown verb; it would send 4.4.2 (a timeout's code) with it. */
const TOO_MANY_UNRECOGNIZED = 'Error: too many unrecognized commands';

let applied = false;

export function applyCommandRules(): void {
  if (applied) return;
  applied = true;
  const proto = SMTPConnection.prototype as unknown as Record<string, unknown>;

  // A client dropped for its unknown verbs is refused for what it did, as limits.max_errors refuses it (4.7.0).
  const send = proto.send as Send;
  proto.send = function (this: RawConnection, code: number, data?: string | string[], context?: unknown) {
    if (code === 421 && data === TOO_MANY_UNRECOGNIZED && this._server._mailmoat) return send.call(this, code, `4.7.0 ${TOO_MANY_UNRECOGNIZED}`, false);
    return send.call(this, code, data, context);
  };

  // smtp-server takes HELO or EHLO as the session's opening command before any handler judges it. RFC 5321 §4.1.4
  // keeps the state a refused EHLO found, so a refused greeting (a helo hook's, a bad name's 501) leaves the one
  // accepted before: what it allows stays (PIPELINING, MAIL's and RCPT's parameters after EHLO) and nothing is added.
  // Under patches.ts, so this sits right around smtp-server's own command dispatch, where the name is recorded.
  const onCommand = proto._onCommand as Handler;
  proto._onCommand = function (this: RawConnection, command: Buffer, callback: () => void) {
    if (!this._server._mailmoat) return onCommand.call(this, command, callback);
    const accepted = this.openingCommand;
    const envelope = (this.session as { envelope?: object }).envelope;
    onCommand.call(this, command, () => {
      // An accepted greeting starts a new envelope (smtp-server's session reset); a refused one leaves it.
      if (this.openingCommand !== accepted && (this.session as { envelope?: object }).envelope === envelope) this.openingCommand = accepted;
      callback?.();
    });
  };

  // RSET takes no argument (RFC 5321 §4.1.1.5); smtp-server reset the transaction whatever followed the verb.
  const rset = proto.handler_RSET as Handler;
  proto.handler_RSET = function (this: RawConnection, command: Buffer, callback: () => void) {
    if (!this._server._mailmoat || !hasArgument(command)) return rset.call(this, command, callback);
    refuse(this, 501, '5.5.4 Syntax: RSET', callback);
  };

  // STARTTLS within a transaction would carry its envelope, given in plaintext, into the TLS session (RFC 3207 §4.2
  // has the server forget it); refused as Postfix refuses it, the transaction kept.
  const starttls = proto.handler_STARTTLS as Handler;
  proto.handler_STARTTLS = function (this: RawConnection, command: Buffer, callback: () => void) {
    const envelope = (this.session as { envelope?: { mailFrom?: unknown } }).envelope;
    if (!this._server._mailmoat || !envelope?.mailFrom || hasArgument(command)) return starttls.call(this, command, callback);
    refuse(this, 503, '5.5.1 Error: MAIL transaction in progress', callback);
  };
}

function hasArgument(command: Buffer): boolean {
  return command.toString().trim().split(/\s+/).length > 1;
}

/** A refusal of the client's syntax or sequence: counted toward limits.max_errors, as smtp-server's own are. */
function refuse(conn: RawConnection, code: number, text: string, callback: () => void): void {
  conn._server._mailmoat?.ownRefusal(conn);
  conn.send(code, text, false);
  callback();
}
