// One message over SMTP to a rules gateway: as written (`sendRaw`), or built and timed from DATA to its reply (what
// the regex tests measure).
import assert from 'node:assert/strict';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';

/** `message` (a whole message, header section and body), from a@elsewhere.example to ann@example.com unless given. */
export async function sendRaw(port: number, message: string, envelope: { from?: string; to?: string[] } = {}): Promise<SmtpReply> {
  const d = await SmtpDialog.connect(port);
  try {
    await d.hello();
    assert.equal((await d.cmd(`MAIL FROM:<${envelope.from ?? 'a@elsewhere.example'}>`)).code, 250);
    for (const r of envelope.to ?? ['ann@example.com']) assert.equal((await d.cmd(`RCPT TO:<${r}>`)).code, 250);
    return await d.data(message);
  } finally { await d.quit(); }
}

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
