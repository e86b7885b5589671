// One whole message through a gateway's SMTP port, as a sending MTA gives it: the reply to its final dot says whether
// the gateway still takes mail.
import assert from 'node:assert/strict';
import { greeted, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';

/** Sends one message from a@client.example to user@example.com and returns the reply to its final dot. */
export async function sendOneMessage(port: number, subject = 'one message'): Promise<SmtpReply> {
  const { d } = await greeted(port);
  try {
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    return await d.data(testMessage({ from: 'a@client.example', subject }));
  } finally {
    await d.quit();
  }
}
