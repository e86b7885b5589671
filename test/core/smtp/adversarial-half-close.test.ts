// Clients that shut down their sending side (a FIN, `nc -N`) and then read: every command sent before the FIN is
// answered, a message sent in full is queued once and acknowledged, one cut short is dropped, and the connection
// goes away by itself. Also plaintext pipelined behind STARTTLS, which must never run inside the TLS session.
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { waitFor } from '../../helpers/wait-for.ts';

/**
 * Connects, says EHLO and waits for its reply (a client that pipelines behind EHLO is refused), writes `first`, and
 * (optionally after the 354) `rest`; the FIN goes with the last write.
 */
function halfClosingClient(port: number, first: string, rest?: string): Promise<{ replies: string[]; closedWithinMs: number }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    let finAt = 0;
    let stage: 'greeting' | 'ehlo' | 'sent' = 'greeting';
    s.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      if (stage === 'greeting' && /^220 /m.test(out)) { s.write('EHLO half.test\r\n'); stage = 'ehlo'; }
      else if (stage === 'ehlo' && /^250 /m.test(out)) {
        stage = 'sent';
        if (rest === undefined) { s.end(first); finAt = Date.now(); } else s.write(first);
      } else if (stage === 'sent' && rest !== undefined && !finAt && /^354 /m.test(out)) { s.end(rest); finAt = Date.now(); }
    });
    s.on('error', reject);
    s.on('close', () => resolve({ replies: out.split('\r\n').filter((l) => /^\d{3} /.test(l)), closedWithinMs: Date.now() - finAt }));
    setTimeout(() => { s.destroy(); reject(new Error(`still open; replies so far: ${out}`)); }, 5000).unref();
  });
}

describe('adversarial clients: half-closed connections and STARTTLS', function () {
  this.timeout(30_000);
  let gw: TestGateway;
  before(async () => { gw = await startGateway(); });
  after(() => gw.stop());

  const ENVELOPE = 'MAIL FROM:<a@client.example>\r\nRCPT TO:<u@example.com>\r\nDATA\r\n';
  const messagesOf = (before: number) => gw.logs.slice(before).filter((l) => l.msg === 'message');

  it('answers the final dot and QUIT of a client that shut down its side right after sending them', async () => {
    const before = gw.logs.length;
    const { replies, closedWithinMs } = await halfClosingClient(gw.port, ENVELOPE, 'Subject: half\r\n\r\nhello\r\n.\r\nQUIT\r\n');
    assert.match(replies.at(-2) ?? '', /^250 2\.0\.0 Ok: queued as /, replies.join(' | '));
    assert.equal(replies.at(-1), '221 2.0.0 Bye');
    const summaries = messagesOf(before);
    assert.deepEqual(summaries.map((l) => [l.verdict, l.qid]), [['accept', replies.at(-2)!.split(' ').at(-1)]], 'one message, queued once');
    assert.ok(closedWithinMs < 2000, `closed ${closedWithinMs} ms after the FIN`);
  });

  it('refuses a whole transaction sent with its FIN in one go, the message before the 354, and queues nothing', async () => {
    const before = gw.logs.length;
    const { replies } = await halfClosingClient(gw.port, `${ENVELOPE}Subject: all at once\r\n\r\nhi\r\n.\r\n`);
    assert.match(replies.at(-1) ?? '', /^554 5\.5\.0 /, replies.join(' | '));
    assert.ok(!replies.some((l) => l.startsWith('354') || /queued as/.test(l)), replies.join(' | '));
    assert.deepEqual(messagesOf(before).map((l) => l.verdict).filter((v) => v !== 'aborted'), []);
    assert.deepEqual(await gw.gateway.runtime.queue.list(), []);
  });

  it('drops a message whose sender shut down its side before the final dot, and closes', async () => {
    const before = gw.logs.length;
    const { replies, closedWithinMs } = await halfClosingClient(gw.port, ENVELOPE, 'Subject: cut\r\n\r\nno final dot\r\n');
    assert.equal(replies.at(-1), '354 End data with <CR><LF>.<CR><LF>');
    assert.ok(closedWithinMs < 2000, `closed ${closedWithinMs} ms after the FIN`);
    await waitFor('the message line of the cut-short transaction', () => messagesOf(before).length || undefined, 2000);
    assert.deepEqual(messagesOf(before).map((l) => l.verdict), ['aborted']);
    assert.deepEqual(await gw.gateway.runtime.queue.list(), []);
  });

  it('closes a client that sent STARTTLS and its FIN without shaking hands', async () => {
    const { replies, closedWithinMs } = await halfClosingClient(gw.port, 'STARTTLS\r\nMAIL FROM:<a@client.example>\r\n');
    assert.equal(replies.at(-1), '220 2.0.0 Ready to start TLS');
    assert.ok(closedWithinMs < 2000, `closed ${closedWithinMs} ms after the FIN`);
  });

  it('never runs plaintext pipelined behind STARTTLS inside the TLS session', async () => {
    const s = net.connect(gw.port, '127.0.0.1');
    let plain = '';
    const untilPlain = (re: RegExp) => new Promise<void>((r) => { const f = () => { if (re.test(plain)) { s.off('data', g); r(); } }; const g = (d: Buffer) => { plain += d; f(); }; s.on('data', g); f(); });
    await untilPlain(/^220 /m);
    s.write('EHLO a\r\n');
    await untilPlain(/^250 /m);
    s.write('STARTTLS\r\nMAIL FROM:<injected@client.example>\r\nRCPT TO:<u@example.com>\r\n');
    await untilPlain(/^220 2\.0\.0 Ready/m);
    const t = tls.connect({ socket: s, rejectUnauthorized: false });
    await new Promise((r) => t.once('secureConnect', r));
    let secured = '';
    t.on('data', (d: Buffer) => { secured += d; });
    t.write('EHLO b\r\n');
    await new Promise<void>((r) => { const f = () => { if (/^250 /m.test(secured)) { t.off('data', f); r(); } }; t.on('data', f); });
    t.write('RCPT TO:<u@example.com>\r\nQUIT\r\n');
    await new Promise((r) => t.once('close', r));
    const replies = secured.split('\r\n').filter((l) => /^\d{3} /.test(l));
    assert.deepEqual(replies.map((l) => l.slice(0, 3)), ['250', '503', '221'], secured);
  });
});
