// CJK mail through a real gateway: Japanese spam and ham taught by `moat bayes merge` into the dictionary the
// gateway uses, then a new spam and a new ham of the same kinds sent over SMTP. Before the tokenizer read CJK runs
// as character pairs, each sentence was one token (or a `skip:` token) that no other message shared, so nothing
// learned carried over and both scored about 0.5.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { saveDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { run as bayesCli } from '../../../scripts/cli/bayes.ts';
import { trainedFilter } from './fixtures.ts';

const SPAM_PHRASES = ['完全無料', '今すぐ登録', '高収入のお仕事', '副業で稼げる', '限定キャンペーン', '当選しました', '素敵な出会い', 'ポイント還元', '特典プレゼント', '月収百万円', '本日限り', '割引クーポン'];
const HAM_PHRASES = ['会議の資料', '議事録を共有', '来週の予定', '打ち合わせ', 'プロジェクトの進捗', '報告書の修正', '担当者に確認', 'お疲れ様です', '添付ファイル', 'スケジュール調整', '予算の見直し', 'レビューをお願い'];
const JOINS = ['は', 'を', 'で', 'に', 'します。', 'ください。'];

/**
 * Sentences without spaces, as Japanese is written: a greeting both kinds share, then twelve phrases of `phrases` chosen
 * by `seed` (the whole over 90 characters, so that a tokenizer that read it as one run gave both kinds the same
 * `skip:こ:9`), joined by particles.
 */
function japanese(phrases: string[], seed: number): string {
  let s = 'こんにちは';
  for (let i = 0; i < 12; i++) s += phrases[(seed * 5 + i * 7) % phrases.length] + JOINS[(seed + i) % JOINS.length];
  return s;
}

/** A message as Japanese mail is sent: the text in base64 UTF-8, the Subject an encoded word; headers alike for both kinds. */
function message(text: string, subject: string, marker = ''): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return [
    'From: <news@sender.test>',
    'To: <bob@example.com>',
    `Subject: ${marker}=?UTF-8?B?${b64(subject)}?=`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: base64',
    '',
    b64(text),
    '',
  ].join('\r\n');
}

describe('bayes on CJK mail through the gateway', function () {
  this.timeout(30_000);
  let dir: string;
  let dict: string;
  let gw: RelayingGateway;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-cjk-'));
    dict = path.join(dir, 'dict.tab');
    await saveDictionary(dict, trainedFilter().dict);
    gw = await startRelayingGateway({
      config: { plugins: [{ name: 'bayes', dictionary: dict, seed: 'none', min_learned: 10, reload_check: '100ms' }] },
    });
  });
  after(async () => {
    await gw?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function probability(raw: string, marker: string): Promise<number> {
    const c = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await c.hello({ xclient: { addr: '203.0.113.9', name: 'client.sender.test' } })).code, 250);
      assert.equal((await c.cmd('MAIL FROM:<news@sender.test>')).code, 250);
      assert.equal((await c.cmd('RCPT TO:<bob@example.com>')).code, 250);
      const r = await c.data(raw);
      assert.equal(r.code, 250, r.text);
    } finally {
      await c.quit();
    }
    const relayed = await gw.sink.waitForText(marker);
    const header = /^X-Mailmoat-Bayes: (\S+)/m.exec(relayed);
    assert.ok(header, 'the relayed copy carries the Bayes probability');
    return Number(header[1]);
  }

  it('scores a new Japanese spam as spam and a new Japanese ham as ham after `moat bayes merge` learned both kinds', async () => {
    for (const kind of ['spam', 'ham'] as const) {
      fs.mkdirSync(path.join(dir, 'cjk', kind), { recursive: true });
      const phrases = kind === 'spam' ? SPAM_PHRASES : HAM_PHRASES;
      for (let i = 0; i < 20; i++) {
        fs.writeFileSync(path.join(dir, 'cjk', kind, `${i}.eml`), message(japanese(phrases, i), japanese(phrases, i + 50).slice(0, 16)));
      }
    }
    const oldLog = console.log;
    console.log = () => {};
    try {
      // Without the byte model, which reads the message's first bytes (the base64 of these very phrases) and tells
      // the two kinds apart whatever the tokenizer does: this test is about the tokens.
      assert.equal(await bayesCli(['merge', '--no-byte-grams', dict, path.join(dir, 'cjk', 'spam'), path.join(dir, 'cjk', 'ham')]), 0);
    } finally {
      console.log = oldLog;
    }
    const end = Date.now() + 10_000;
    while (!gw.logs.some((l) => l.msg === 'bayes dictionary reloaded')) {
      assert.ok(Date.now() < end, 'the gateway reloads the merged dictionary');
      await new Promise((r) => setTimeout(r, 50));
    }

    // Seeds the merge did not learn: other sentences made of the same phrases.
    const spam = await probability(message(japanese(SPAM_PHRASES, 103), japanese(SPAM_PHRASES, 104).slice(0, 16), 'cjk-probe-spam '), 'cjk-probe-spam');
    const ham = await probability(message(japanese(HAM_PHRASES, 103), japanese(HAM_PHRASES, 104).slice(0, 16), 'cjk-probe-ham '), 'cjk-probe-ham');
    assert.ok(spam > 0.9, `spam scored ${spam}`);
    assert.ok(ham < 0.1, `ham scored ${ham}`);
  });
});
