// Whether the gateway changes a byte of a signed message before the dmarc plugin verifies it: a message with a base64
// ZIP attachment (random bytes, as an encrypted ZIP is), signed with mailauth, sent 20 times each way through a real
// gateway (nodemailer; a raw client in pieces cut at random and at every CR of the header section, pipelined and not;
// bare LF line ends), at sizes on both sides of the spool's in-memory limit. Each copy must verify and reach the sink
// with the sender's bytes unchanged after the gateway's own fields.
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import nodemailer from 'nodemailer';
import { MEMORY_COPY_BYTES } from '../../../core/message/spool-writer.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import type { SmtpDialog, SmtpReply } from '../../helpers/smtp-dialog.ts';
import { openSession } from '../spf/e2e-setup.ts';
import { sign } from './mail-fixtures.ts';
import { useDmarcBed } from './auth-bed.ts';

const SENDS = 20;
const CLIENT = { ip: '198.51.100.9', helo: 'mail.zip.test' };

/** A text part and an attachment of `zipBytes` random bytes in base64 lines of 76, CRLF line ends, ASCII only. */
function zipMessage(zipBytes: number): Buffer {
  const zip = Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), randomBytes(zipBytes - 4)]);
  const b64 = zip.toString('base64').replace(/.{76}/g, '$&\r\n').replace(/\r\n$/, '');
  const lines = [
    'From: Alice <alice@zip.test>', 'To: bob@receiver.test', `Subject: Encrypted figures ${zipBytes}`,
    'Date: Sat, 21 Nov 2026 10:00:00 +0000', `Message-ID: <${randomBytes(8).toString('hex')}@zip.test>`, 'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="--_b1"', '',
    '----_b1', 'Content-Type: text/plain; charset=us-ascii', 'Content-Transfer-Encoding: 7bit', '',
    'The password comes separately.', '',
    '----_b1', 'Content-Type: application/zip; name="figures.zip"', 'Content-Transfer-Encoding: base64',
    'Content-Disposition: attachment; filename="figures.zip"', '', b64, '',
    '----_b1--', '',
  ];
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

/** Where to cut `data`: after every CR of its first 2 KB (the header section) and at a few random places. */
function cuts(data: Buffer): number[] {
  const at = new Set<number>();
  for (let i = data.indexOf(0x0d); i >= 0 && i < 2048; i = data.indexOf(0x0d, i + 1)) at.add(i + 1);
  for (let n = 0; n < 12; n++) at.add(randomInt(1, data.length));
  return [...at].sort((a, b) => a - b);
}

/** Writes `data` in pieces, each in its own turn of the event loop, so the gateway reads chunks cut where the pieces are. */
async function writeInPieces(c: SmtpDialog, data: Buffer): Promise<void> {
  let from = 0;
  for (const to of [...cuts(data), data.length]) {
    c.write(data.subarray(from, to));
    from = to;
    await new Promise((r) => setImmediate(r));
  }
}

/**
 * The message as sent after DATA: dot-stuffed, with the final dot. Only CRLF.CRLF ends DATA (a bare LF before the dot
 * would be smuggling), so a message with bare LF line ends still ends with a CRLF.
 */
function dataSection(raw: Buffer): Buffer {
  const stuffed = raw.toString('latin1').replace(/(^|\r?\n)\./g, '$1..').replace(/\r?\n?$/, '\r\n');
  return Buffer.from(`${stuffed}.\r\n`, 'latin1');
}

describe('dmarc verification of a signed ZIP attachment end to end', function () {
  this.timeout(120_000);
  const bed = useDmarcBed((key) => ({
    'zip.test': {
      '@': { TXT: ['v=spf1 ip4:198.51.100.9 ip4:127.0.0.1 -all'] },
      'sel._domainkey': { TXT: [key.dnsRecord] },
      '_dmarc': { TXT: ['v=DMARC1; p=reject'] },
    },
  }), [{ name: 'spf' }, { name: 'dmarc', enforce: true }]);

  /** One message of each size (under and over the spool's in-memory limit), signed once, as resends are. */
  const signed: Buffer[] = [];
  before(async () => {
    for (const size of [40 * 1024, 2 * MEMORY_COPY_BYTES]) signed.push(await sign(zipMessage(size), 'zip.test', 'sel', bed.key));
  });

  type Way = (mailFrom: string, raw: Buffer) => Promise<SmtpReply | { code: number; text: string }>;

  const rawClient = (pipelined: boolean, lineEnd: 'crlf' | 'lf'): Way => async (mailFrom, raw) => {
    const c = await openSession(bed.gw.gw.port, CLIENT.ip, CLIENT.helo);
    try {
      if (pipelined) {
        c.write(`MAIL FROM:<${mailFrom}>\r\nRCPT TO:<bob@receiver.test>\r\nDATA\r\n`);
        const replies = [await c.read(), await c.read(), await c.read()].map((r) => r.code);
        assert.deepEqual(replies, [250, 250, 354]);
      } else {
        assert.equal((await c.cmd(`MAIL FROM:<${mailFrom}>`)).code, 250);
        assert.equal((await c.cmd('RCPT TO:<bob@receiver.test>')).code, 250);
        assert.equal((await c.cmd('DATA')).code, 354);
      }
      const sent = lineEnd === 'lf' ? Buffer.from(raw.toString('latin1').replace(/\r\n/g, '\n'), 'latin1') : raw;
      await writeInPieces(c, dataSection(sent));
      return await c.read(30_000);
    } finally {
      await c.quit();
    }
  };

  const byNodemailer = (lineEnd: 'crlf' | 'lf'): Way => async (mailFrom, raw) => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: bed.gw.gw.port, secure: false, ignoreTLS: true, name: 'mail.zip.test' });
    try {
      const sent = lineEnd === 'lf' ? raw.toString('latin1').replace(/\r\n/g, '\n') : raw;
      const info = await transport.sendMail({ envelope: { from: mailFrom, to: ['bob@receiver.test'] }, raw: sent });
      return { code: Number(/^\d{3}/.exec(info.response)?.[0]), text: info.response };
    } finally {
      transport.close();
    }
  };

  const ways: Array<[string, Way]> = [
    ['nodemailer, CRLF', byNodemailer('crlf')],
    ['nodemailer, LF (its transport makes CRLF)', byNodemailer('lf')],
    ['raw client in pieces, one command at a time', rawClient(false, 'crlf')],
    ['raw client in pieces, MAIL RCPT DATA pipelined', rawClient(true, 'crlf')],
    ['raw client in pieces, bare LF line ends (smtp.bare_lf normalize)', rawClient(true, 'lf')],
  ];

  for (const [n, [name, way]] of ways.entries()) {
    it(`passes DKIM and DMARC ${SENDS} times out of ${SENDS} and relays the sender's bytes unchanged: ${name}`, async () => {
      const failures: string[] = [];
      for (let i = 0; i < SENDS; i++) {
        const raw = signed[i % 2];
        const mailFrom = `w${n}-${i}@zip.test`;
        const r = await way(mailFrom, raw);
        assert.equal(r.code, 250, `${mailFrom}: ${r.text}`);
        const copy = await waitFor(`the relayed copy from ${mailFrom}`, () => bed.gw.gw.sink.messages.find((m) => m.mailFrom === mailFrom));
        const text = copy.raw.toString('latin1');
        const verdict = /^X-Mailmoat-Verdict: (.*)$/m.exec(text)?.[1] ?? '';
        if (!/DKIM_PASS\(-1\)/.test(verdict) || !/DMARC_PASS\(-1\)/.test(verdict) || /DKIM_FAIL/.test(verdict)) failures.push(`${mailFrom}: ${verdict}`);
        if (!copy.raw.subarray(copy.raw.length - raw.length).equals(raw)) failures.push(`${mailFrom}: the relayed copy does not end with the bytes sent`);
      }
      assert.deepEqual(failures, []);
    });
  }
});
