// The refusal that reaches limits.max_errors is followed at once by `421 4.7.0` and the close, as Postfix's smtpd
// checks its hard error limit before it reads the next command. Waiting for that command instead let a client that
// went quiet after its tenth refusal keep its connection slot for the whole idle timeout (5 minutes), and had the
// 421 wait on input the gateway would refuse anyway.
//
// Done where every reply passes, after the reply has been written: whichever check counted the error (ours before
// their reply, smtp-server's own refusals as they are sent: limits-own-refusals.ts), the 421 comes right behind it.
// smtp-server closes after any 421, which stops its parser: commands the client pipelined behind the refusal are
// never run. Replies batched for the socket (reply-batching.ts) leave before the 421, which is never held back.
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { RawConnection } from './patches.ts';

type Send = RawConnection['send'];
type Closable = RawConnection & { _closing?: boolean; _closed?: boolean };

let applied = false;

export function applyErrorLimitClose(): void {
  if (applied) return;
  applied = true;
  const proto = SMTPConnection.prototype as unknown as { send: Send };
  const send = proto.send;
  proto.send = function (this: Closable, code: number, data?: string | string[], context?: unknown) {
    send.call(this, code, data, context);
    // Only a refusal can reach the limit; a 421 closes by itself, and a closing connection has had its last word.
    if (code < 400 || code === 421 || this._closing || this._closed) return;
    const farewell = this._server._mailmoat?.errorLimitReply(this);
    if (farewell) this.send(farewell.code, farewell.text, false);
  };
}
