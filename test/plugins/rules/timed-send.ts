// One message over SMTP to a rules gateway, timed from DATA to its reply: what the regex tests measure.
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';

/** `from`: the local address to connect from (any of 127.0.0.0/8), to stand for another client. */
export async function timedSend(port: number, subject: string, body: string, from?: string): Promise<{ reply: SmtpReply; ms: number }> {
  const d = await SmtpDialog.connect(port, '127.0.0.1', { localAddress: from });
  try {
    await d.hello();
    await d.cmd('MAIL FROM:<a@elsewhere.example>');
    await d.cmd('RCPT TO:<ann@example.com>');
    const started = Date.now();
    const reply = await d.data(testMessage({ subject, body }));
    return { reply, ms: Date.now() - started };
  } finally { await d.quit(); }
}
