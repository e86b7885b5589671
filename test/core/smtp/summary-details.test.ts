// The details on the `message` summary line: a long one is cut to a bounded size and stays well-formed, its quoted
// value closed and the cut marked. This file is also the plugin that records the findings (imported by its own URL).
import assert from 'node:assert/strict';
import { definePlugin, s, type HookContext } from '../../../core/index.ts';
import { SUMMARY_DETAIL_MAX, summaryDetail } from '../../../core/smtp/summary-detail.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';

const LONG_PROBLEM = `pass identity=mailfrom domain=client.example ip=192.0.2.7 mechanism=include:spf.client.example problem="${'the include chain of client.example went through more lookups than allowed, '.repeat(3)}"`;
const LONG_PLAIN = `p=0.99 tokens=${'word '.repeat(60)}`;

export default definePlugin({
  name: 'long-detail-fixture',
  description: 'Test double: records findings whose details are longer than the summary line keeps',
  configSchema: s.object({}),
  create: () => ({
    hooks: {
      async data(ctx: HookContext) {
        ctx.addFinding('TEST_QUOTED', 0, LONG_PROBLEM);
        ctx.addFinding('TEST_PLAIN', 0, LONG_PLAIN);
        ctx.addFinding('TEST_SHORT', 0, 'short="kept whole"');
      },
    },
  }),
});

/** Whether every double quote of a `key=value …` text is closed. */
const balanced = (text: string) => (text.match(/"/g) ?? []).length % 2 === 0;

describe('finding details on the summary line', () => {
  describe('in a real gateway', () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startGateway({ config: { plugins: [{ name: 'long-detail-fixture', module: import.meta.filename }] } });
    });
    after(() => gw?.stop());

    it('cuts a long quoted value to a bounded, well-formed detail, and keeps a short one whole', async () => {
      const d = await SmtpDialog.connect(gw.port);
      await d.hello();
      assert.equal((await d.cmd('MAIL FROM:<joe@client.example>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
      const sent = await d.data(testMessage());
      await d.quit();
      assert.equal(sent.code, 250, sent.text);
      const qid = /queued as (\S+)/.exec(sent.text)?.[1];
      const line = gw.logs.find((l) => l.msg === 'message' && l.qid === qid);
      const details = line?.details as string[];
      assert.equal(details.length, 3, JSON.stringify(line));
      const [quoted, plain, short] = details;
      assert.ok(quoted.startsWith('TEST_QUOTED: pass identity=mailfrom '), quoted);
      assert.ok(balanced(quoted), `unbalanced quote: ${quoted}`);
      assert.ok(quoted.endsWith('…"'), quoted);
      assert.ok(quoted.length <= 'TEST_QUOTED: '.length + SUMMARY_DETAIL_MAX, `${quoted.length} characters`);
      assert.ok(plain.endsWith('…') && plain.length <= 'TEST_PLAIN: '.length + SUMMARY_DETAIL_MAX, plain);
      assert.equal(short, 'TEST_SHORT: short="kept whole"');
    });
  });

  describe('summaryDetail', () => {
    it('keeps a detail within the limit as it is', () => {
      const exact = 'x'.repeat(SUMMARY_DETAIL_MAX);
      assert.equal(summaryDetail(exact), exact);
      assert.equal(summaryDetail('a="b"'), 'a="b"');
    });

    it('marks a cut outside quotes with … and stays within the limit', () => {
      const out = summaryDetail('y'.repeat(500));
      assert.equal(out, 'y'.repeat(SUMMARY_DETAIL_MAX - 1) + '…');
    });

    it('closes a quoted value it cut into, within the limit', () => {
      const out = summaryDetail(`k=v problem="${'z'.repeat(300)}"`, 20);
      assert.equal(out, 'k=v problem="zzzzz…"');
      assert.equal(out.length, 20);
    });

    it('does not reopen a value when the cut falls right after its opening quote', () => {
      // 19 characters kept would end inside the value; one fewer drops the opening quote itself.
      const out = summaryDetail(`abcdefghijklmnopq="${'z'.repeat(40)}"`, 20);
      assert.equal(out, 'abcdefghijklmnopq=…');
      assert.ok(balanced(out));
    });

    it('leaves a closed quoted value and an escaped quote alone', () => {
      assert.equal(summaryDetail(`a="b" ${'c'.repeat(40)}`, 12), 'a="b" ccccc…');
      const escaped = summaryDetail(`m="say \\"hi\\" ${'w'.repeat(40)}"`, 20);
      assert.ok(escaped.endsWith('…"'), escaped);
      assert.equal(escaped.length, 20);
    });

    it('never splits a character outside the Basic Multilingual Plane', () => {
      const out = summaryDetail(`${'a'.repeat(8)}${'😀'.repeat(10)}`, 12);
      assert.equal(out, 'aaaaaaaa😀…');
      assert.doesNotMatch(out, /[\ud800-\udbff](?![\udc00-\udfff])/);
    });
  });
});
