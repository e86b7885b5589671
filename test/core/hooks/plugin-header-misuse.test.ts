// End to end: what a plugin passes to addHeader, removeHeader and addFinding must fit the message and the verdict
// header. A field name with a space or colon, one of the core's own X-Mailmoat-* fields, or a symbol with a line
// break is the plugin's mistake: 451 and `plugin threw` naming it, nothing relayed. A value's line breaks cannot add
// lines. This file is also the plugin: the gateway imports it by its own URL, the module mocha loaded.
import assert from 'node:assert/strict';
import { definePlugin, s, type HookContext } from '../../../core/index.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';

/** The Subject says which call the plugin makes. */
const CALLS: Record<string, (ctx: HookContext) => void> = {
  'name-with-space': (ctx) => ctx.addHeader('X Bad: Name', 'v'),
  'name-empty': (ctx) => ctx.addHeader('', 'v'),
  'name-8bit': (ctx) => ctx.addHeader('X-Größe', 'v'),
  'core-field': (ctx) => ctx.addHeader('X-Mailmoat-Spam', 'No'),
  'core-field-case': (ctx) => ctx.addHeader('x-mailmoat-verdict', 'accept'),
  'value-not-string': (ctx) => ctx.addHeader('X-Count', 3 as unknown as string),
  'remove-bad-name': (ctx) => ctx.removeHeader('X Bad'),
  'symbol-with-crlf': (ctx) => ctx.addFinding('bad sym\r\nX', 1, 'from the test'),
  'symbol-with-paren': (ctx) => ctx.addFinding('SYM(9)', 1),
  'score-not-number': (ctx) => ctx.addFinding('TEST_SCORE', '5' as unknown as number),
  'plugin-namespace': (ctx) => ctx.addHeader('X-Mailmoat-Fixture', 'allowed'),
  'value-with-breaks': (ctx) => {
    ctx.addHeader('X-Injected-Into', 'one\r\nX-Injected: yes');
    ctx.addHeader('X-Folded', 'first\r\n\tsecond');
    ctx.addFinding('GOOD_SYMBOL_1', 0.5);
  },
};

export default definePlugin({
  name: 'header-misuse-fixture',
  description: 'Test double: calls addHeader, removeHeader or addFinding as its Subject asks',
  configSchema: s.object({}),
  create: () => ({
    hooks: {
      async data(ctx: HookContext) {
        CALLS[ctx.message!.headers.first('Subject') ?? '']?.(ctx);
      },
    },
  }),
});

describe('addHeader, removeHeader and addFinding refuse what the message cannot carry', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'header-misuse-fixture', module: import.meta.filename }] } });
  });
  after(() => gw.stop());

  async function send(subject: string): Promise<{ code: number; text: string }> {
    const c = await SmtpDialog.connect(gw.port);
    await c.hello();
    assert.equal((await c.cmd('MAIL FROM:<someone@client.example>')).code, 250);
    assert.equal((await c.cmd('RCPT TO:<ann@example.com>')).code, 250);
    const r = await c.data(testMessage({ to: 'ann@example.com', subject }));
    await c.quit();
    return r;
  }

  const refusals: Array<[string, RegExp]> = [
    ['name-with-space', /addHeader\("X Bad: Name"\) refused: a field name is printable ASCII/],
    ['name-empty', /addHeader\(""\) refused/],
    ['name-8bit', /addHeader\("X-Größe"\) refused/],
    ['core-field', /addHeader\("X-Mailmoat-Spam"\) refused: .*gateway's verdict/],
    ['core-field-case', /addHeader\("x-mailmoat-verdict"\) refused/],
    ['value-not-string', /addHeader\("X-Count"\) refused: the value is not a string/],
    ['remove-bad-name', /removeHeader\("X Bad"\) refused/],
    ['symbol-with-crlf', /addFinding\("bad sym\\r\\nX"\) refused: a symbol is 1 to 128 letters, digits and _/],
    ['symbol-with-paren', /addFinding\("SYM\(9\)"\) refused/],
    ['score-not-number', /addFinding\("TEST_SCORE"\) refused: the score is not a number/],
  ];
  for (const [subject, error] of refusals) {
    it(`${subject}: 451 4.3.0, logged with the plugin's name and its mistake, nothing relayed`, async () => {
      const before = gw.sink.messages.length;
      const r = await send(subject);
      assert.equal(r.code, 451, r.text);
      assert.match(r.text, /^4\.3\.0 /);
      const line = gw.logs.findLast((l) => l.msg === 'plugin threw');
      assert.equal(line?.plugin, 'header-misuse-fixture');
      assert.match(String(line?.error), error);
      assert.match(String(line?.error), /plugin header-misuse-fixture:/);
      await new Promise((res) => setTimeout(res, 200));
      assert.equal(gw.sink.messages.length, before, 'a refused message is not relayed');
    });
  }

  it('lets a plugin add a field of its own under X-Mailmoat- (as the bayes and clamav plugins do)', async () => {
    const r = await send('plugin-namespace');
    assert.equal(r.code, 250, r.text);
    const raw = await gw.sink.waitForText('Subject: plugin-namespace');
    assert.match(raw, /^X-Mailmoat-Fixture: allowed\r$/m);
  });

  it('keeps a value on its own line: a line break becomes a space, a fold is undone', async () => {
    const r = await send('value-with-breaks');
    assert.equal(r.code, 250, r.text);
    const raw = await gw.sink.waitForText('Subject: value-with-breaks');
    const header = raw.slice(0, raw.indexOf('\r\n\r\n') + 2);
    assert.match(header, /^X-Injected-Into: one X-Injected: yes\r$/m);
    assert.doesNotMatch(header, /^X-Injected:/m, 'the value added no field of its own');
    assert.match(header, /^X-Folded: first\tsecond\r$/m);
    assert.match(header, /^X-Mailmoat-Verdict: .*symbols=GOOD_SYMBOL_1\(0\.5\)/m);
    assert.equal(header.match(/^X-Mailmoat-Spam:/gm)?.length, 1);
  });
});
