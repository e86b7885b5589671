// How a notice shows the original's 8-bit header text and a remote reply: each read as the rest of the gateway reads
// header text (core/text/header-value.ts), checked in the notice as mailparser reads it.
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { buildDsn } from '../../../core/queue/dsn.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';

const entry: QueueEntry = {
  id: 'Q8', mailFrom: 'a@client.example', recipients: [], prepend: '', remove: [], receivedAt: Date.now() - 60_000,
  size: 10, client: { ip: '192.0.2.1' }, authenticated: false, attempts: 1, nextAttemptAt: 0, history: [],
};

/** A failure notice for `originalHeaders` (bytes as latin1 characters), and the text of its human part. */
async function notice(originalHeaders: string, opts: { reply?: string; headersCut?: boolean; text?: string } = {}) {
  const { data } = buildDsn({
    kind: 'failure', entry, hostname: 'mx.test.example', postmaster: 'postmaster@mx.test.example', originalHeaders,
    recipients: [{ address: 'bad@example.com', status: 'failed', reply: opts.reply ?? '550 5.1.1 no such user' }],
    headersCut: opts.headersCut, template: opts.text ? { text: opts.text } : undefined,
  });
  return { raw: data, text: (await simpleParser(data)).text ?? '' };
}

describe('queue: 8-bit header text in notices', () => {
  it('reads a Subject in Latin-1 as such, and returns its header bytes as they came', async () => {
    const n = await notice('From: a@client.example\r\nSubject: Gr\xfc\xdfe aus K\xf6ln\r\n');
    assert.match(n.text, /subject "Grüße aus Köln"/);
    assert.match(n.raw.toString('latin1'), /^Content-Type: text\/rfc822-headers$/m, 'not UTF-8: no global type');
    assert.ok(n.raw.includes(Buffer.from('Subject: Gr\xfc\xdfe aus K\xf6ln\r\n', 'latin1')), 'the original bytes');
  });

  it('reads undeclared 8-bit text as Windows-1252: quotes and the euro sign, not dropped control characters', async () => {
    const n = await notice('Subject: \x93Angebot\x94 nur 5 \x80\r\n');
    assert.match(n.text, /subject "“Angebot” nur 5 €"/);
  });

  it('reads each returned header line in its own charset', async () => {
    const n = await notice(`From: J\xf6rg <j@old.example>\r\n${Buffer.from('Subject: Grüße\r\n').toString('latin1')}`, { text: '{subject}\n{headers}' });
    assert.match(n.text, /^From: Jörg <j@old\.example>$/m);
    assert.match(n.text, /^Subject: Grüße$/m);
    assert.match(n.text, /^Grüße$/m, 'the subject token');
  });

  it('a header section read only in part, cut inside a UTF-8 character of the Subject, still reads as UTF-8', async () => {
    const cut = Buffer.from('From: a@client.example\r\nSubject: Grüße').subarray(0, -2).toString('latin1');
    const n = await notice(cut, { headersCut: true });
    assert.match(n.text, /subject "Grü"/);
  });

  it('reads a remote reply in UTF-8 or Latin-1', async () => {
    const utf8 = await notice('Subject: x\r\n', { reply: Buffer.from('550 5.1.1 Empfänger unbekannt').toString('latin1') });
    const latin1 = await notice('Subject: x\r\n', { reply: '550 5.1.1 Empf\xe4nger unbekannt' });
    for (const n of [utf8, latin1]) {
      assert.match(n.text, /<bad@example\.com>: 550 5\.1\.1 Empfänger unbekannt/);
      assert.match(n.raw.toString('utf8'), /^Diagnostic-Code: smtp; 550 5\.1\.1 Empfänger unbekannt$/m);
    }
  });
});
