// A message a plugin rewrites with bare LF (or bare CR) line ends leaves with CRLF, as a client's DATA does: a strict
// next hop (Postfix with smtpd_forbid_bare_newline) would refuse bare LFs after our 250. End to end with the recording
// smarthost's raw bytes, and crlfLineEnds on its own. This file is also the plugin: the gateway imports it by its URL.
import assert from 'node:assert/strict';
import { definePlugin, s, type HookContext } from '../../../core/index.ts';
import { crlfLineEnds } from '../../../core/message/line-normalizer.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';

/** What the fixture writes in place of the message: LF line ends, a line that is a lone dot, and one bare CR. */
const REWRITTEN = 'From: sender@client.example\nTo: ann@example.com\nSubject: rewritten\nX-Rewrite: yes\n\nfirst line\n.\n..two dots\nbare\rcr\nlast line\n';

export default definePlugin({
  name: 'rewrite-fixture',
  description: 'Test double: replaces the message with one written with LF line ends',
  configSchema: s.object({}),
  create: () => ({
    hooks: {
      async data(ctx: HookContext) {
        if (ctx.message!.headers.first('Subject') === 'rewrite me') await ctx.rewriteMessage(Buffer.from(REWRITTEN));
        if (ctx.message!.headers.first('Subject') === 'rewrite with a string') await ctx.rewriteMessage(REWRITTEN as unknown as Buffer);
      },
    },
  }),
});

describe('ctx.rewriteMessage line ends', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'rewrite-fixture', module: import.meta.filename }] } });
  });
  after(() => gw.stop());

  async function send(subject: string): Promise<{ code: number; text: string }> {
    const c = await SmtpDialog.connect(gw.port);
    await c.hello();
    await c.cmd('MAIL FROM:<sender@client.example>');
    await c.cmd('RCPT TO:<ann@example.com>');
    const r = await c.data(testMessage({ to: 'ann@example.com', subject }));
    await c.quit();
    return r;
  }

  it('relays a rewrite written with LF as CRLF, its lone dot line intact', async () => {
    const r = await send('rewrite me');
    assert.equal(r.code, 250, r.text);
    const [m] = await gw.sink.waitFor(1);
    const raw = m.raw.toString('latin1');
    assert.doesNotMatch(raw, /[^\r]\n|\r[^\n]/, 'no bare LF or CR reaches the smarthost');
    // The smarthost undid the dot-stuffing: the body is the rewrite's, line for line.
    assert.ok(raw.endsWith('\r\n\r\nfirst line\r\n.\r\n..two dots\r\nbare\r\ncr\r\nlast line\r\n'), JSON.stringify(raw.slice(-80)));
    assert.match(raw, /^X-Rewrite: yes\r$/m, 'the rewritten header section is the one relayed');
    assert.match(raw, /^X-Mailmoat-Verdict: /m);
  });

  it('refuses a string in place of a Buffer: 451, logged with the plugin\'s name', async () => {
    const r = await send('rewrite with a string');
    assert.equal(r.code, 451, r.text);
    const line = gw.logs.findLast((l) => l.msg === 'plugin threw');
    assert.equal(line?.plugin, 'rewrite-fixture');
    assert.match(String(line?.error), /rewriteMessage\("string"\) refused: the message is not a Buffer/);
  });
});

describe('crlfLineEnds', () => {
  it('makes every bare CR and LF a CRLF and leaves CRLF alone', () => {
    const cases: Array<[string, string]> = [
      ['a\nb\n', 'a\r\nb\r\n'],
      ['a\rb\r', 'a\r\nb\r\n'],
      ['a\r\n\nb\r\r\n', 'a\r\n\r\nb\r\n\r\n'],
      ['\n.\n', '\r\n.\r\n'],
      ['\r', '\r\n'],
      ['no line end', 'no line end'],
    ];
    for (const [given, want] of cases) assert.equal(crlfLineEnds(Buffer.from(given, 'latin1')).toString('latin1'), want, JSON.stringify(given));
  });

  it('returns the same buffer for a clean message', () => {
    const clean = Buffer.from('Subject: x\r\n\r\nbody\r\n');
    assert.equal(crlfLineEnds(clean), clean);
  });
});
