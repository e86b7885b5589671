// `moat check` against a real gateway (rbl on a loopback DNS server, greylist, rules, bayes, a recording smarthost):
// the report gives the findings and action a real SMTP send of the same message gets, and the check leaves nothing
// behind: no greylist triplet, no bayes lesson, no queued or relayed message, no message counters.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDnsServer, type DnsTestServer } from '../helpers/dns-server.ts';
import { startRelayingGateway, type RelayingGateway } from '../helpers/gateway.ts';
import { holdUntilExit } from '../helpers/leftovers.ts';
import { SmtpDialog, type SmtpReply } from '../helpers/smtp-dialog.ts';
import { waitUntil } from '../helpers/wait-for.ts';
import { loadDictionary, saveDictionary } from '../../plugins/bayes/engine/persist.ts';
import { message, trainedFilter } from '../plugins/bayes/fixtures.ts';
import type { CheckReport } from '../../core/smtp/check-transaction.ts';
import type { LogFields } from '../../core/log/types.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', 'scripts', 'moat.js');
/** Listed in bl.test and exempt from greylisting: its messages reach DATA. */
const LISTED = '203.0.113.9';
/** Greylisted like any new client. */
const NEW_CLIENT = '198.51.100.20';

interface Ran { code: number; stdout: string; stderr: string }

function moat(args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MOAT, ...args], { cwd: os.tmpdir() }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

/** One message by SMTP from `ip` (named by XCLIENT), as the check names the client. */
async function send(port: number, ip: string, raw: string, rcpt: string): Promise<{ rcpt: SmtpReply; data?: SmtpReply }> {
  const c = await SmtpDialog.connect(port);
  try {
    assert.equal((await c.hello({ xclient: { addr: ip } })).code, 250);
    assert.equal((await c.cmd('MAIL FROM:<someone@sender.test>')).code, 250);
    const r = await c.cmd(`RCPT TO:<${rcpt}>`);
    return { rcpt: r, data: r.code === 250 ? await c.data(raw) : undefined };
  } finally {
    await c.quit();
  }
}

describe('moat check', function () {
  this.timeout(60_000);
  let dns: DnsTestServer;
  let gw: RelayingGateway;
  let dir: string;
  let dict: string;
  let end: () => void;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-check-cli-'));
    end = holdUntilExit({ dir });
    dict = path.join(dir, 'dict.tab');
    await saveDictionary(dict, trainedFilter().dict);
    dns = await startDnsServer({ zones: { 'bl.test': { '9.113.0.203': { A: '127.0.0.2' } } } });
    gw = await startRelayingGateway({
      config: {
        dns: { servers: [dns.address], timeout: '500ms', tries: 2 },
        limits: { max_message_size: '200k' },
        plugins: [
          { name: 'rbl', zones: [{ zone: 'bl.test', symbol: 'RBL_CHECK_TEST', score: 2 }] },
          { name: 'greylist', skip_ips: [LISTED], delay: '1h' },
          { name: 'rules', rules: [{ name: 'casino', when: { subject: 'casino' }, actions: [{ score: 1.5 }] }] },
          { name: 'bayes', dictionary: dict, seed: 'none', min_learned: 10, honeypots: ['trap@example.com'], balance: false, flush_interval: '100ms' },
        ],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await dns?.stop();
    end?.();
  });

  /** `moat check` of `raw` (written with LF line ends, as a saved .eml usually is) against the test gateway. */
  async function check(raw: string, extra: string[]): Promise<Ran> {
    const file = path.join(dir, `msg-${Date.now()}-${Math.random().toString(36).slice(2)}.eml`);
    writeFileSync(file, raw.replace(/\r\n/g, '\n'));
    try {
      return await moat(['check', '--set', `data_dir=${gw.dataDir}`, file, '--helo', 'client.test', ...extra]);
    } finally {
      rmSync(file, { force: true });
    }
  }

  const summaries = (): LogFields[] => gw.logs.filter((l) => l.msg === 'message' && !l.check);
  const messageCounters = () => Object.entries(gw.gateway.runtime.metrics.snapshot()).filter(([k]) => k.startsWith('messages_') || k.startsWith('findings_'));
  const queueFiles = () => readdirSync(path.join(gw.dataDir, 'queue'));

  it('reports the findings and action a real send gets, and nothing is queued, relayed or counted', async () => {
    const raw = message({ spam: true, seed: 7, subject: 'casino winner check-same' });
    const countersBefore = messageCounters();
    const r = await check(raw, ['--ip', LISTED, '--from', 'someone@sender.test', '--to', 'bob@example.com', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as CheckReport;
    assert.deepEqual(report.steps.map((s) => [s.hook, s.outcome]), [['connect', 'continue'], ['helo', 'continue'], ['mailFrom', 'continue'], ['rcptTo', 'continue'], ['dataStart', 'continue'], ['data', 'continue']]);
    const symbols = report.findings.map((f) => f.symbol);
    for (const s of ['RBL_CHECK_TEST', 'GREYLIST_SKIPPED', 'BAYES_SPAM_99']) assert.ok(symbols.includes(s), `${s} in ${symbols}`);
    assert.ok(report.findings.some((f) => f.plugin === 'rules' && f.score === 1.5), JSON.stringify(report.findings));
    assert.ok(report.headers.some((h) => h.startsWith('X-Mailmoat-Verdict:')), report.headers.join('\n'));
    assert.ok(report.headers.some((h) => h.startsWith('Received: from client.test')), report.headers.join('\n'));
    // Nothing left: no queue file, no relayed copy, no scratch folder, and no message counted.
    assert.deepEqual(queueFiles(), []);
    assert.deepEqual(readdirSync(gw.dataDir).filter((f) => f.startsWith('check-')), []);
    assert.deepEqual(messageCounters(), countersBefore);
    assert.equal(gw.sink.messages.length, 0);

    const real = await send(gw.port, LISTED, raw, 'bob@example.com');
    assert.equal(real.data?.code, 250, real.data?.text);
    const summary = summaries().at(-1)!;
    assert.deepEqual(report.findings.map((f) => `${f.symbol}(${f.score})`), summary.symbols);
    assert.equal(report.action, summary.verdict);
    assert.equal(report.score, summary.score);
    assert.deepEqual(report.summary?.symbols, summary.symbols);
    await gw.sink.waitForText('check-same');
    // Only the real send was relayed.
    assert.equal(gw.sink.messages.filter((m) => m.raw.includes('check-same')).length, 1);
  });

  it('greylists as the live chain would, and stores no triplet: a real send afterwards is a first attempt', async () => {
    const raw = message({ spam: false, seed: 8, subject: 'agenda greylist-check' });
    const r = await check(raw, ['--ip', NEW_CLIENT, '--from', 'someone@sender.test', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as CheckReport;
    const rcpt = report.steps.find((s) => s.hook === 'rcptTo')!;
    assert.deepEqual([rcpt.rcpt, rcpt.outcome, rcpt.plugin], ['bob@example.com', 'tempfail', 'greylist']);
    assert.match(rcpt.reply, /^451 4\.7\.1 Greylisted/);
    assert.equal(report.action, 'tempfail');
    const keys: string[] = [];
    for await (const [key] of gw.gateway.runtime.services.store.scan('greylist:')) keys.push(key);
    assert.deepEqual(keys.filter((k) => k.includes('198.51.100')), []);

    const real = await send(gw.port, NEW_CLIENT, raw, 'bob@example.com');
    assert.equal(real.rcpt.code, 451, real.rcpt.text);
    const greylisted = gw.logs.filter((l) => l.msg === 'greylisted' && l.network === '198.51.100.0/24');
    assert.equal(greylisted.length, 1);
    assert.equal(greylisted[0].first, true);
  });

  it('scores a honeypot message without learning it', async () => {
    const raw = message({ spam: true, seed: 9, subject: 'honeypot-check', to: 'trap@example.com' });
    const before = await loadDictionary(dict);
    const r = await check(raw, ['--ip', LISTED, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as CheckReport;
    assert.deepEqual(report.envelope.to, ['trap@example.com'], 'the To header gives the recipient');
    assert.ok(report.findings.some((f) => f.symbol === 'BAYES_LESSON'), JSON.stringify(report.findings));
    // The real send of the same message is learned once: the check added nothing before it.
    const real = await send(gw.port, LISTED, raw, 'trap@example.com');
    assert.equal(real.data?.code, 250, real.data?.text);
    await waitUntil('the real send learned', async () => (await loadDictionary(dict)).nspam > before.nspam);
    const after = await loadDictionary(dict);
    assert.equal(after.nspam, before.nspam + 1);
    assert.equal(after.nham, before.nham);
    assert.equal(gw.logs.filter((l) => l.msg === 'bayes learned' && l.check).length, 0);
  });

  it('prints a table of findings, refuses a message over limits.max_message_size, and exits 2 without a gateway', async () => {
    const text = await check(message({ spam: true, seed: 10, subject: 'casino table' }), ['--ip', LISTED]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^check: verdict=\S+ score=/m);
    assert.match(text.stdout, /^ {2}RBL_CHECK_TEST\s+2\s+rbl\s/m);
    assert.match(text.stdout, /^ {2}rcptTo bob@example\.com\s+continue\s+-\s+250/m);

    // A little over the limit (judged once decoded) and far over it (judged by the request line's length).
    for (const lines of [3300, 6000]) {
      const big = await check(`From: a@sender.test\nTo: bob@example.com\nSubject: big\n\n${`${'x'.repeat(76)}\n`.repeat(lines)}`, ['--ip', LISTED]);
      assert.equal(big.code, 1, big.stdout);
      assert.match(big.stderr, /larger than limits\.max_message_size \(204800/);
    }
    assert.equal(gw.sink.messages.filter((m) => m.raw.includes('Subject: big')).length, 0);

    const empty = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-check-none-'));
    try {
      const file = path.join(empty, 'one.eml');
      writeFileSync(file, 'Subject: nobody runs\n\nhello\n');
      const none = await moat(['check', '--set', `data_dir=${empty}`, file, '--to', 'bob@example.com']);
      assert.equal(none.code, 2, none.stderr);
      assert.match(none.stderr, /no gateway is running/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
