// For tests that pipeline a flood of commands: every reply the gateway sends until it closes the connection.
import type { SmtpDialog, SmtpReply } from '../../helpers/smtp-dialog.ts';

/** Every reply until the gateway closes the connection (at most `max`, so a gateway that never closes fails the test). */
export async function repliesUntilClosed(d: SmtpDialog, max: number): Promise<SmtpReply[]> {
  const replies: SmtpReply[] = [];
  while (replies.length < max) {
    try { replies.push(await d.read()); } catch (e) {
      if (/connection closed/.test(String(e))) break;
      throw e;
    }
  }
  return replies;
}
