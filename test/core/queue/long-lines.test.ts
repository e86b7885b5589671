// Lines over 998 octets leave broken with CRLF SPACE, as Postfix's smtp_line_length_limit does (RFC 5321 §4.5.3.1.6):
// a long header line stays one folded field, dot-stuffing stays right, and lines within the limit are untouched.
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startRawSmarthost, type RawSmarthost } from './raw-smarthost.ts';
import { sendMail, until } from './send.ts';

/** Lines of the DATA section as they came over the wire, without their CRLF. */
const wireLines = (wire: Buffer) => wire.toString('latin1').split('\r\n').slice(0, -1);
/** The message the wire carried: dot-stuffing undone (RFC 5321 §4.5.2). */
const unstuffed = (wire: Buffer) => wireLines(wire).map((l) => (l.startsWith('.') ? l.slice(1) : l)).join('\r\n') + '\r\n';

describe('queue: lines longer than SMTP allows', function () {
  this.timeout(60_000);
  let gw: TestGateway | undefined;
  let next: RawSmarthost | undefined;
  afterEach(async () => { await gw?.stop(); await next?.stop(); gw = undefined; next = undefined; });

  it('breaks 1,500- and 5,000-character body lines and a 1,200-character header line; nothing else changes', async () => {
    next = await startRawSmarthost();
    gw = await startGateway({ config: { smarthost: `smtp://127.0.0.1:${next.port}` } });
    const header = 'h'.repeat(1200 - 'X-Long: '.length);
    const line1500 = Array.from({ length: 1500 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
    const line5000 = 'x'.repeat(4990) + '0123456789';
    // a long line starting with a dot, one whose break falls just before a dot, and short ones around them
    const dotted = '.' + 'd'.repeat(1199);
    const dotAtBreak = 'e'.repeat(998) + '.' + 'f'.repeat(100);
    const exact = 'g'.repeat(998);
    const body = ['first', line1500, '.short dotted', line5000, dotted, dotAtBreak, exact, 'last'].join('\r\n') + '\r\n';
    const s = await sendMail(gw.port, { from: 'a@client.example', to: ['u@example.com'], body, headers: { 'X-Long': header, 'X-After': 'kept' } });
    assert.equal(s.code, 250);
    await until(() => next!.accepted().length === 1, 10_000, 'the relayed message');
    const wire = next!.accepted()[0].wire!;
    const lines = wireLines(wire);
    const longest = Math.max(...lines.map((l) => Buffer.byteLength(l, 'latin1')));
    console.log(`      longest line on the wire: ${longest} octets (of ${lines.length} lines)`);
    assert.ok(longest <= 998, `a line of ${longest} octets`);

    const got = unstuffed(wire);
    const sent = got.slice(got.indexOf('\r\n\r\n') + 4);
    // each long line comes back whole once its inserted CRLF SPACE are taken out; short ones exactly as they were
    const restored = sent.replace(/\r\n /g, '');
    assert.equal(restored, body);
    assert.ok(sent.includes('\r\n.short dotted\r\n') && sent.includes(`\r\n${exact}\r\n`), 'lines within the limit unchanged');
    assert.ok(wire.includes(Buffer.from('\r\n..short dotted\r\n')), 'a short line starting with a dot is stuffed as before');
    assert.ok(wire.includes(Buffer.from('\r\n..d')), 'a long line starting with a dot is stuffed');

    const parsed = await simpleParser(got);
    const value = parsed.headers.get('x-long') as string;
    assert.equal(value.replace(/\s/g, ''), header, 'the long header is still one field');
    assert.equal(parsed.headers.get('x-after'), 'kept', 'the field after it is intact');
    assert.equal(parsed.headerLines.filter((h) => h.key === 'x-long').length, 1);
  });

  it('breaks them in a message read back from its spool file (over 128 KB)', async () => {
    next = await startRawSmarthost();
    gw = await startGateway({ config: { smarthost: `smtp://127.0.0.1:${next.port}` } });
    const long = 'y'.repeat(3000);
    const filler = ('z'.repeat(76) + '\r\n').repeat(2000);
    const body = filler + long + '\r\n' + filler + '.' + long + '\r\nend\r\n';
    const s = await sendMail(gw.port, { from: 'a@client.example', to: ['u@example.com'], body });
    assert.equal(s.code, 250);
    await until(() => next!.accepted().length === 1, 10_000, 'the relayed message');
    const wire = next!.accepted()[0].wire!;
    assert.ok(Math.max(...wireLines(wire).map((l) => l.length)) <= 998);
    const got = unstuffed(wire);
    assert.equal(got.slice(got.indexOf('\r\n\r\n') + 4).replace(/\r\n /g, ''), body);
  });
});
