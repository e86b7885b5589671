// split_recipients after a plugin that redirects recipients (an alias table): the split is decided by the dictionaries
// of the addresses a recipient goes to, not by its alias's name. An alias whose targets span dictionaries is taken
// (the client cannot split it) and the log says the message is scored by the shared dictionary alone.
// This file is also the alias plugin: the gateway imports it by its own URL.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { aliasPlugin } from '../../helpers/alias-plugin.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { BayesFilter } from '../../../plugins/bayes/engine/filter.ts';
import { saveDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { message, trainedFilter } from './fixtures.ts';

const ALIASES: Record<string, string[]> = {
  // Targets in two dictionaries: sales's and none (the shared one alone).
  'mixed@example.com': ['carol@sales.example.com', 'ann@example.com'],
  // An alias in the shared domain for a sales mailbox, and the other way round.
  'quotes@example.com': ['carol@sales.example.com'],
  'bobby@sales.example.com': ['bob@example.com'],
};

export default aliasPlugin('alias-for-split', ALIASES);

const WORDS = ['invoice', 'quote', 'pricing', 'discount', 'order', 'shipment', 'pallet', 'freight'];
function salesMail(seed: number, subject: string): string {
  const words = Array.from({ length: 14 }, (_x, i) => WORDS[(seed + i * 3) % WORDS.length]);
  return [`From: "Buyer" <buyer${seed}@customer.test>`, 'To: sales@sales.example.com', `Subject: ${subject}`,
    `Message-ID: <${seed}.${subject}@customer.test>`, 'Content-Type: text/plain; charset=utf-8', '', words.join(' '), ''].join('\r\n');
}

describe('bayes split_recipients after an alias plugin', function () {
  this.timeout(30_000);
  let dir: string;
  let smarthost: Smarthost;
  let gw: TestGateway;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-split-alias-'));
    await saveDictionary(path.join(dir, 'shared.tab'), trainedFilter().dict);
    const sales = new BayesFilter();
    for (let i = 0; i < 20; i++) { sales.learn(salesMail(i, `q${i}`), false); sales.learn(message({ spam: true, seed: 500 + i }), true); }
    await saveDictionary(path.join(dir, 'sales.tab'), sales.dict);
    smarthost = await startSmarthost();
    gw = await startGateway({ config: {
      smarthost: `smtp://127.0.0.1:${smarthost.port}`,
      domains: ['example.com', 'sales.example.com'],
      plugins: [
        { name: 'alias-for-split', module: import.meta.filename },
        {
          name: 'bayes', dictionary: path.join(dir, 'shared.tab'), seed: 'none', min_learned: 10, split_recipients: true,
          recipient_dictionaries: [{ recipients: ['@sales.example.com'], dictionary: path.join(dir, 'sales.tab') }],
        },
      ],
    } });
  });
  after(async () => {
    await gw?.stop();
    await smarthost?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** One transaction: each RCPT's reply, then DATA's when any recipient was taken. */
  async function transaction(raw: string, rcpts: string[]): Promise<{ rcpt: number[]; data?: number; qid?: string }> {
    const c = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await c.hello({ xclient: { addr: '203.0.113.9', name: 'client.sender.test' } })).code, 250);
      assert.equal((await c.cmd('MAIL FROM:<someone@sender.test>')).code, 250);
      const rcpt = [];
      for (const to of rcpts) rcpt.push((await c.cmd(`RCPT TO:<${to}>`)).code);
      if (!rcpt.includes(250)) return { rcpt };
      const d = await c.data(raw);
      return { rcpt, data: d.code, qid: /queued as (\S+)/.exec(d.text)?.[1] };
    } finally {
      await c.quit();
    }
  }
  /** The message relayed with subject `marker`: its envelope recipients and the bayes finding's detail. */
  async function relayed(marker: string, qid: string | undefined): Promise<{ to: string[]; detail: string }> {
    await smarthost.waitForText(marker);
    const m = smarthost.messages.find((x) => x.raw.toString('latin1').includes(marker))!;
    const line = gw.logs.find((l) => l.msg === 'message' && l.qid === qid);
    assert.ok(line, `a message line for ${qid}`);
    return { to: m.rcptTo, detail: ((line.details as string[]).find((d) => d.startsWith('BAYES_')) ?? '').replace(/^BAYES_\w+: /, '') };
  }
  const deferrals = () => gw.logs.filter((l) => l.msg === 'bayes recipient deferred to another transaction');

  it('an alias alone whose targets span dictionaries is taken, and the log says it is scored by the shared dictionary alone', async () => {
    const t = await transaction(salesMail(201, 'alias-alone'), ['mixed@example.com']);
    assert.deepEqual([t.rcpt, t.data], [[250], 250]);
    const line = gw.logs.find((l) => String(l.msg).startsWith('bayes recipient goes to several dictionaries') && String(l.to) === 'mixed@example.com');
    assert.ok(line, 'not silent');
    assert.deepEqual(line.targets, ['carol@sales.example.com', 'ann@example.com']);
    assert.deepEqual(line.dictionaries, ['sales', 'shared only']);
    assert.match((await relayed('alias-alone', t.qid)).detail, / shared only \(recipients of different dictionaries\)$/);
  });

  it('no 452 for an alias one of whose targets shares the transaction\'s dictionary; the shared target goes once', async () => {
    const before = deferrals().length;
    const t = await transaction(salesMail(202, 'alias-second'), ['carol@sales.example.com', 'mixed@example.com']);
    assert.deepEqual([t.rcpt, t.data], [[250, 250], 250]);
    assert.equal(deferrals().length, before);
    assert.deepEqual((await relayed('alias-second', t.qid)).to, ['carol@sales.example.com', 'ann@example.com']);
  });

  it('an alias is split by its target\'s dictionary, not by its own name\'s', async () => {
    const t = await transaction(salesMail(203, 'alias-target'), ['sales@sales.example.com', 'quotes@example.com', 'bobby@sales.example.com']);
    assert.deepEqual(t.rcpt, [250, 250, 452], 'quotes@ goes to sales, bobby@ to the shared dictionary alone');
    const r = await relayed('alias-target', t.qid);
    assert.deepEqual(r.to, ['sales@sales.example.com', 'carol@sales.example.com']);
    assert.match(r.detail, / shared=\S+ sales=\S+$/, 'scored by the sales dictionary');
    const d = deferrals().at(-1)!;
    assert.deepEqual([d.to, d.targets, d.dictionaries, d.first_dictionary], [['bobby@sales.example.com'], ['bob@example.com'], ['shared only'], 'sales']);
  });
});
