// The notices the gateway sends a sender (failure, delay, relayed) return the message's header section, or the whole
// message with RET=FULL, without the gateway's own X-Mailmoat-* fields: the verdict names the score and threshold a
// sender would tune the next message against, as the refusal replies leave the score out for.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost, type ReceivedMessage } from '../../helpers/smarthost.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { buildDsn } from '../../../core/queue/dsn.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const isNotice = (m: ReceivedMessage) => m.mailFrom === '' && /multipart\/report/.test(m.raw.toString('latin1'));

/** The part of a notice after its delivery report: what it returns of the original. */
const returnedPart = (raw: string) => raw.slice(raw.indexOf('Content-Type: message/delivery-status'));

async function send(port: number, mailFrom: string, to: string, subject: string): Promise<void> {
  const d = await SmtpDialog.connect(port);
  try {
    await d.hello();
    assert.equal((await d.cmd(`MAIL FROM:${mailFrom}`)).code, 250);
    assert.equal((await d.cmd(`RCPT TO:<${to}>`)).code, 250);
    assert.equal((await d.data(testMessage({ subject, body: 'X-Mailmoat-Note: a body line that looks like a field stays\r\n' }))).code, 250);
  } finally {
    await d.quit();
  }
}

describe('queue: notices leave our own X-Mailmoat-* fields out of what they return', function () {
  this.timeout(30_000);
  let sink: Smarthost;
  let gw: TestGateway | undefined;

  beforeEach(async () => { sink = await startSmarthost(); });
  afterEach(async () => { await gw?.stop(); gw = undefined; await sink.stop(); });

  it('a bounce for a 550 returns the headers (RET=HDRS) and the whole message (RET=FULL) without X-Mailmoat-Verdict', async () => {
    sink.rcptReplies.set('gone@example.com', 550);
    gw = await startGateway({ config: { smarthost: `smtp://127.0.0.1:${sink.port}`, queue: { retry_schedule: ['300ms'], lifetime: '1h' } } });
    await send(gw.port, '<hdrs@client.example> RET=HDRS', 'gone@example.com', 'headers back');
    await send(gw.port, '<full@client.example> RET=FULL', 'gone@example.com', 'whole back');
    const notices = await waitFor('two failure notices', () => {
      const n = sink.messages.filter(isNotice);
      return n.length >= 2 ? n : undefined;
    });
    // The messages carried the verdict as they left: left out of the notices, not missing from the start.
    const dead = await waitFor('both in dead-letter', () => {
      const files = readdirSync(path.join(gw!.dataDir, 'deadletter')).filter((f) => f.endsWith('.json'));
      return files.length === 2 ? files : undefined;
    });
    for (const f of dead) assert.match(JSON.parse(readFileSync(path.join(gw.dataDir, 'deadletter', f), 'utf8')).prepend, /^X-Mailmoat-Verdict: accept; score=/m);
    for (const n of notices) {
      const raw = n.raw.toString('latin1');
      const back = returnedPart(raw);
      assert.match(back, /^Subject: (headers|whole) back$/m, 'the original header section is returned');
      assert.doesNotMatch(back, /^X-Mailmoat-(Verdict|Spam|Spam-Score|Spam-Level):/im, `no verdict fields in:\n${back}`);
      assert.doesNotMatch(back, /score=/);
      // The report part's own queue id field is the notice's, about the notice: it stays.
      assert.match(raw, /^X-Mailmoat-Queue-ID: /m);
    }
    const full = notices.find((n) => n.rcptTo[0] === 'full@client.example')!.raw.toString('latin1');
    assert.match(full, /Content-Type: message\/rfc822/);
    // The body is returned as it was, a line in it that looks like one of our fields too.
    assert.match(returnedPart(full), /^X-Mailmoat-Note: a body line that looks like a field stays$/m);
    const hdrs = notices.find((n) => n.rcptTo[0] === 'hdrs@client.example')!.raw.toString('latin1');
    assert.match(hdrs, /Content-Type: text\/rfc822-headers/);
  });

  it('a delay notice and a relayed notice leave them out too, folded fields included', () => {
    const entry: QueueEntry = {
      id: 'own-fields', mailFrom: 'a@client.example', recipients: [{ address: 'b@example.com', status: 'pending', reply: '451 4.2.0 busy' }],
      prepend: '', remove: [], receivedAt: Date.now() - 60_000, size: 10, client: { ip: '192.0.2.1' }, authenticated: false,
      attempts: 1, nextAttemptAt: 0, history: [],
    };
    const originalHeaders = 'X-Mailmoat-Verdict: accept; score=2.5;\r\n required=15; level=none\r\nX-Mailmoat-Bayes: ham 0.01\r\nSubject: kept\r\nx-mailmoat-spam: No\r\n';
    for (const kind of ['delay', 'success'] as const) {
      const text = buildDsn({ kind, entry, recipients: entry.recipients, originalHeaders, hostname: 'mx.test.example', postmaster: 'postmaster@mx.test.example' }).data.toString('latin1');
      const back = returnedPart(text);
      assert.match(back, /^Subject: kept$/m, kind);
      assert.doesNotMatch(back, /x-mailmoat-(verdict|bayes|spam)|required=15/i, `${kind}:\n${back}`);
      // The human part's copy of the headers ({headers}) is the returned one.
      assert.doesNotMatch(text, /score=2\.5/, kind);
    }
  });
});
