// One message on an open session, for the tests of the client's name in Received (core and ptr plugin): MAIL, RCPT and
// DATA, then the copy the smarthost got and the message's summary line.
import assert from 'node:assert/strict';
import type { LogFields } from '../../core/log/types.ts';
import type { RelayingGateway } from '../helpers/gateway.ts';
import { testMessage, type SmtpDialog } from '../helpers/smtp-dialog.ts';

/** Sends a message with `subject` to `rcpt` on `d` (greeted already); its relayed text and summary line. */
export async function relayOne(gw: RelayingGateway, d: SmtpDialog, subject: string, rcpt = 'user@example.com'): Promise<{ raw: string; summary: LogFields }> {
  assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
  assert.equal((await d.cmd(`RCPT TO:<${rcpt}>`)).code, 250);
  const sent = await d.data(testMessage({ subject, to: rcpt }));
  assert.equal(sent.code, 250, sent.text);
  const qid = /queued as (\S+)/.exec(sent.text)![1];
  const raw = await gw.sink.waitForText(`Subject: ${subject}`);
  const summary = gw.logs.find((l) => l.msg === 'message' && l.qid === qid);
  assert.ok(summary, 'summary line');
  return { raw, summary };
}
