// A Haraka plugin that parses bodies must not change the message: Haraka's parser rewrites the lines it is given in
// place, and a small message's lines used to be the gateway's own stored bytes, so the smarthost and the journal got
// every body CRLF as LF LF (DKIM body hashes then failed).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { useFolderGateway } from './folder-gateway.ts';

/** The body as stored and relayed: after the first empty line. */
function bodyOf(raw: Buffer): Buffer {
  const at = raw.indexOf('\r\n\r\n');
  return raw.subarray(at + 4);
}

function messageWith(body: string, id: string): string {
  return [
    'From: Alice <alice@example.org>', 'To: bob@example.test', `Subject: bytes ${id}`, `Message-ID: <${id}@example.org>`,
    'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '', body,
  ].join('\r\n');
}

describe('haraka shim: a body-parsing plugin leaves the message as it came', function () {
  this.timeout(60_000);
  const bed = useFolderGateway('haraka-body-bytes', {
    config: { plugins: 'parse_body_on\nattachment\n', 'log.ini': '[main]\nlevel=WARN\n' },
    plugins: { parse_body_on: 'exports.hook_data = function (next, connection) { connection.transaction.parse_body = true; next() }\n' },
  });

  /** The relayed copy of the message with that subject marker. */
  async function relayed(id: string): Promise<Buffer> {
    await bed.gw.sink.waitForText(`Subject: bytes ${id}`);
    return bed.gw.sink.messages.find((m) => m.raw.includes(`Subject: bytes ${id}`))!.raw;
  }

  async function send(raw: string): Promise<void> {
    const d = await SmtpDialog.connect(bed.gw.port);
    await d.hello({ helo: 'mail.example.org' });
    assert.equal((await d.cmd('MAIL FROM:<alice@example.org>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<bob@example.test>')).code, 250);
    const r = await d.data(raw);
    assert.equal(r.code, 250, r.text);
    await d.quit();
  }

  it('a small message (kept in memory, journaled): smarthost and journal get the body byte for byte', async () => {
    const body = 'line1\r\n\r\nline3\r\n.a dotted line\r\n\r\n\r\nend\r\n';
    await send(messageWith(body, 'small'));
    // The journal holds the record from before the 250; read it before a delivery could retire the segment.
    const journal = path.join(bed.gw.dataDir, 'journal');
    const segments = readdirSync(journal).filter((n) => n.endsWith('.seg')).map((n) => readFileSync(path.join(journal, n)));
    const stored = segments.find((s) => s.includes('Subject: bytes small'));
    assert.ok(stored, 'the message is in a journal segment');
    assert.ok(stored.includes(Buffer.from(`\r\n\r\n${body}`)), 'the journal holds the body unchanged');
    assert.equal(bodyOf(await relayed('small')).toString('latin1'), body);
  });

  it('a message over 128 KB (spooled to a file): the smarthost gets the body byte for byte', async () => {
    const lines: string[] = [];
    for (let i = 0; lines.join('\r\n').length < 200 * 1024; i++) lines.push(i % 7 === 0 ? '' : i % 11 === 0 ? `.dot ${i}` : `line ${i} ${'x'.repeat(60)}`);
    const body = lines.join('\r\n') + '\r\n';
    await send(messageWith(body, 'large'));
    const got = bodyOf(await relayed('large'));
    assert.equal(got.length, Buffer.byteLength(body));
    assert.ok(got.equals(Buffer.from(body)), 'the relayed body is the body sent');
  });
});
