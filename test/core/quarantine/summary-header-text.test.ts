// What the digest and the recipient page show of a held message's From and Subject when its header bytes are 8-bit:
// each field is read as the rest of the gateway reads header text (core/text/header-value.ts), on a real quarantine
// folder filled as the gateway fills it (queued, then moved).
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { summarize, SHOWN_CHARS } from '../../../core/quarantine/summary.ts';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import { newQueueId } from '../../../core/queue/queue-id.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';

describe('quarantine summary: 8-bit header text', () => {
  let store: QueueStore;
  let done: () => void;

  before(() => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'moat-summary-text-'));
    done = holdUntilExit({ dir });
    store = new QueueStore(dir);
  });
  after(() => { store.close(); done(); });

  /** Holds `message` (bytes as given) in the quarantine and summarizes it. */
  async function held(message: Buffer) {
    const e: QueueEntry = {
      id: newQueueId(), mailFrom: 'bounce@sender.example', recipients: [{ address: 'ann@example.com', status: 'pending' }],
      prepend: '', remove: [], receivedAt: Date.now(), size: message.length, client: { ip: '192.0.2.1' },
      authenticated: false, attempts: 0, nextAttemptAt: 0, history: [],
      verdict: { action: 'quarantine', score: 12, symbols: [] },
    };
    await store.enqueue(e, message);
    await store.commitTo('quarantine', e);
    return summarize(store, e);
  }

  it('reads a From in Latin-1 and a Subject in raw UTF-8 each in its own charset', async () => {
    const message = Buffer.concat([
      Buffer.from('From: J\xf6rg <joerg@old.example>\r\n', 'latin1'),
      Buffer.from('Subject: Grüße aus Köln\r\n\r\nHallo.\r\n', 'utf8'),
    ]);
    const s = await held(message);
    assert.equal(s.sender, 'Jörg <joerg@old.example>');
    assert.equal(s.subject, 'Grüße aus Köln', 'the Latin-1 From does not turn the UTF-8 Subject into Latin-1');
    assert.equal(s.senderAddress, 'joerg@old.example');
  });

  it('reads undeclared 8-bit text as Windows-1252, and still decodes encoded words', async () => {
    const s = await held(Buffer.from('From: =?ISO-8859-1?Q?J=F6rg?= <j@old.example>\r\nSubject: \x93Angebot\x94 nur 5 \x80\r\n\r\nx\r\n', 'latin1'));
    assert.equal(s.subject, '“Angebot” nur 5 €', 'curly quotes and the euro sign, not control characters');
    assert.equal(s.sender, 'Jörg <j@old.example>');
  });

  it('a header section longer than what is read, cut inside a UTF-8 character of the Subject, still reads as UTF-8', async () => {
    const subject = Buffer.from(`Subject: ${'ü'.repeat(40_000)}\r\n`, 'utf8');
    // The 64 KB read ends on the first byte of a `ü`: an odd number of bytes of the Subject fit.
    const before = Buffer.from(`From: <a@b.example>\r\nX-Pad: ${'p'.repeat(900)}\r\n`);
    const lead = 64 * 1024 - before.length - 'Subject: '.length;
    assert.equal(lead % 2, 1, 'the read stops after the lead byte of a character');
    const s = await held(Buffer.concat([before, subject, Buffer.from('\r\nbody\r\n')]));
    assert.equal(s.subject, `${'ü'.repeat(SHOWN_CHARS - 1)}…`);
  });
});
