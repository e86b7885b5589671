// split_recipients end to end: a real SMTP client sends one message to recipients of two dictionaries; the second
// recipient is answered 452 4.5.3, sent again in a transaction of its own, accepted, and scored by its own dictionary.
// Without the option the same transaction takes both and the message is scored by the shared dictionary alone.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { BayesFilter } from '../../../plugins/bayes/engine/filter.ts';
import { saveDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { message, trainedFilter } from './fixtures.ts';

const WORDS = ['invoice', 'quote', 'pricing', 'discount', 'order', 'shipment', 'pallet', 'freight'];
function salesMail(seed: number, subject: string): string {
  const words = Array.from({ length: 14 }, (_x, i) => WORDS[(seed + i * 3) % WORDS.length]);
  return [`From: "Buyer" <buyer${seed}@customer.test>`, 'To: sales@sales.example.com', `Subject: ${subject}`,
    `Message-ID: <${seed}.${subject}@customer.test>`, 'Content-Type: text/plain; charset=utf-8', '', words.join(' '), ''].join('\r\n');
}

describe('bayes split_recipients', function () {
  this.timeout(30_000);
  let dir: string;
  let smarthost: Smarthost;
  let gw: TestGateway | undefined;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-split-'));
    await saveDictionary(path.join(dir, 'shared.tab'), trainedFilter().dict);
    const sales = new BayesFilter();
    for (let i = 0; i < 20; i++) { sales.learn(salesMail(i, `q${i}`), false); sales.learn(message({ spam: true, seed: 500 + i }), true); }
    await saveDictionary(path.join(dir, 'sales.tab'), sales.dict);
    smarthost = await startSmarthost();
  });
  afterEach(async () => { await gw?.stop(); gw = undefined; });
  after(async () => {
    await smarthost?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function start(split: boolean | undefined) {
    gw = await startGateway({ config: {
      smarthost: `smtp://127.0.0.1:${smarthost.port}`,
      domains: ['example.com', 'sales.example.com'],
      plugins: [{
        name: 'bayes', dictionary: path.join(dir, 'shared.tab'), seed: 'none', min_learned: 10,
        recipient_dictionaries: [{ recipients: ['@sales.example.com'], dictionary: path.join(dir, 'sales.tab') }],
        ...(split === undefined ? {} : { split_recipients: split }),
      }],
    } });
  }

  /** One transaction: each RCPT's reply, then DATA's when any recipient was taken. */
  async function transaction(raw: string, rcpts: string[]): Promise<{ rcpt: Array<{ code: number; text: string }>; data?: number; qid?: string }> {
    const c = await SmtpDialog.connect(gw!.port);
    try {
      assert.equal((await c.hello({ xclient: { addr: '203.0.113.9', name: 'client.sender.test' } })).code, 250);
      assert.equal((await c.cmd('MAIL FROM:<someone@sender.test>')).code, 250);
      const rcpt = [];
      for (const to of rcpts) rcpt.push(await c.cmd(`RCPT TO:<${to}>`));
      if (!rcpt.some((r) => r.code === 250)) return { rcpt };
      const d = await c.data(raw);
      return { rcpt, data: d.code, qid: /queued as (\S+)/.exec(d.text)?.[1] };
    } finally {
      await c.quit();
    }
  }
  /** The bayes finding's detail of the message whose subject is `marker` (queue id `qid`), once relayed, from the log's message line. */
  async function detailOf(marker: string, qid: string | undefined): Promise<string> {
    await smarthost.waitForText(marker);
    const line = gw!.logs.find((l) => l.msg === 'message' && l.qid === qid);
    assert.ok(line, `a message line for ${qid}`);
    return ((line.details as string[]).find((d) => d.startsWith('BAYES_')) ?? '').replace(/^BAYES_\w+: /, '');
  }

  it('answers 452 4.5.3 to a recipient of another dictionary; sent again alone, it is accepted and scored by its own', async () => {
    await start(true);
    const first = await transaction(salesMail(101, 'split-one'), ['sales@sales.example.com', 'bob@example.com', 'ann@sales.example.com']);
    assert.deepEqual(first.rcpt.map((r) => r.code), [250, 452, 250]);
    assert.match(first.rcpt[1].text, /^4\.5\.3 /);
    assert.equal(first.data, 250);
    assert.match(await detailOf('split-one', first.qid), / shared=\S+ sales=\S+$/, 'the sales transaction is scored by both dictionaries');
    const log = gw!.logs.find((l) => l.msg === 'bayes recipient deferred to another transaction');
    assert.deepEqual([log?.to, log?.dictionaries, log?.first_dictionary], [['bob@example.com'], ['shared only'], 'sales']);

    const again = await transaction(salesMail(101, 'split-two'), ['bob@example.com']);
    assert.deepEqual([again.rcpt.map((r) => r.code), again.data], [[250], 250]);
    assert.match(await detailOf('split-two', again.qid), /^p=\S+ tokens=\d+$/, 'bob has no dictionary of his own: the shared one alone');
  });

  it('is off by default: both recipients in one transaction, scored by the shared dictionary alone', async () => {
    await start(undefined);
    const both = await transaction(salesMail(102, 'split-off'), ['sales@sales.example.com', 'bob@example.com']);
    assert.deepEqual([both.rcpt.map((r) => r.code), both.data], [[250, 250], 250]);
    assert.match(await detailOf('split-off', both.qid), / shared only \(recipients of different dictionaries\)$/);
    assert.equal(gw!.logs.some((l) => l.msg === 'bayes recipient deferred to another transaction'), false);
  });
});
