// What a Proxmox Mail Gateway admin met writing 40 rules for a real gateway: rules that loaded and then deferred every
// match, IDN domains and +tags that slipped past, a second From or Subject, a remove that missed an earlier rule's
// field, tags added twice, a discard that dropped every recipient. Real SMTP in, a recording smarthost out.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { ConfigError, validateConfig } from '../../../core/config/load.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

function moat(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MOAT, ...args], { cwd, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

async function send(port: number, from: string, to: string[], message: string, utf8 = false): Promise<SmtpReply> {
  const d = await SmtpDialog.connect(port);
  try {
    await d.hello();
    assert.equal((await d.cmd(`MAIL FROM:<${from}>${utf8 ? ' SMTPUTF8' : ''}`)).code, 250);
    for (const r of to) { const rr = await d.cmd(`RCPT TO:<${r}>`); assert.equal(rr.code, 250, `${r}: ${rr.code} ${rr.text}`); }
    return await d.data(message);
  } finally { await d.quit(); }
}

/** The recipient of a `recipient discarded` line: under `to` (a list, as the summary line has it), or `rcpt` as before. */
const rcptOf = (l: Record<string, unknown>) => (Array.isArray(l.to) ? l.to.join(',') : l.rcpt);
const head = (raw: string) => raw.slice(0, raw.indexOf('\r\n\r\n'));
const DOMAINS = ['example.com', 'corp.example', 'bücher.example'];

/** Rules the admin wrote that can never work as written: each refused at load, named by index and name. */
const BROKEN_RULES = [
  { name: 'spam-no', when: { subject: 'x' }, actions: [{ add_header: { name: 'X-Mailmoat-Spam', value: 'No' } }] },
  { name: 'own-ns', actions: [{ add_header: { name: 'X-Mailmoat-Note', value: 'hi' } }] },
  { name: 'long-name', actions: [{ add_header: { name: `X-${'a'.repeat(210)}`, value: 'v' } }] },
  { name: 'strip-verdict', actions: [{ remove_header: 'X-Mailmoat-Verdict' }] },
  { name: 'german', actions: [{ reject: 'Nicht erwünscht, danke' }] },
  { name: 'german-map', actions: [{ tempfail: { text: 'Später bitte' } }] },
  { name: 'never-time', when: { time: '08:00-08:00' }, actions: ['stop'] },
  { name: 'never-size', when: { size: { over: '10MB', under: '1KB' } }, actions: ['stop'] },
  { name: 'never-score', when: { score: { at_least: 10, below: 5 } }, actions: ['stop'] },
  { name: 'no-headers', when: { header: [] }, actions: ['stop'] },
  { name: 'sunshine', when: { weekday: 'sunshine' }, actions: ['stop'] },
  { name: 'tagged-address', when: { to: { address: 'trap+spam@corp.example' } }, actions: ['stop'] },
];

const BROKEN_EXPECTED = [
  /^plugins\[0\]\.rules\[0\] \(name "spam-no"\)\.actions\[0\]\.add_header\.name: X-Mailmoat-Spam is written by the gateway/,
  /^plugins\[0\]\.rules\[1\] \(name "own-ns"\)\.actions\[0\]\.add_header\.name: X-Mailmoat-Note is in the gateway's own namespace/,
  /^plugins\[0\]\.rules\[2\] \(name "long-name"\)\.actions\[0\]\.add_header\.name: a field name is at most 200 characters/,
  /^plugins\[0\]\.rules\[3\] \(name "strip-verdict"\)\.actions\[0\]\.remove_header: X-Mailmoat-Verdict is written by the gateway itself/,
  /^plugins\[0\]\.rules\[4\] \(name "german"\)\.actions\[0\]\.reject: expected one line of printable ASCII/,
  /^plugins\[0\]\.rules\[5\] \(name "german-map"\)\.actions\[0\]\.tempfail\.text: expected one line of printable ASCII/,
  /^plugins\[0\]\.rules\[6\] \(name "never-time"\)\.when\.time: "08:00-08:00" is an empty range/,
  /^plugins\[0\]\.rules\[7\] \(name "never-size"\)\.when\.size: over "10MB" is not below under "1KB"/,
  /^plugins\[0\]\.rules\[8\] \(name "never-score"\)\.when\.score: at_least 10 is not below below 5/,
  /^plugins\[0\]\.rules\[9\] \(name "no-headers"\)\.when\.header: is an empty list/,
  /^plugins\[0\]\.rules\[10\] \(name "sunshine"\)\.when\.weekday: expected a weekday/,
  /^plugins\[0\]\.rules\[11\] \(name "tagged-address"\)\.when\.to\.address: trap\+spam@corp\.example carries an address tag/,
];

describe('plugins/rules: rules that could never work are refused at load', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-rules-load-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('check-config lists each one with the rule\'s index and name, and exits 1', async () => {
    const file = path.join(dir, 'mailmoat.yaml');
    writeFileSync(file, stringify({ domains: DOMAINS, data_dir: path.join(dir, 'data'), plugins: [{ name: 'rules', rules: BROKEN_RULES }] }));
    const r = await moat(['check-config', '--config', file], dir);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const lines = (r.stdout + r.stderr).split('\n').map((l) => l.replace(/^\s*[-•]?\s*/, ''));
    for (const re of BROKEN_EXPECTED) assert.ok(lines.some((l) => re.test(l)), `${re} not in:\n${lines.join('\n')}`);
  });

  it('the start refuses them with the same errors (reload validates the same way)', async () => {
    let issues: Array<{ path: string; message: string }> = [];
    try { await validateConfig({ domains: DOMAINS, plugins: [{ name: 'rules', rules: BROKEN_RULES }] }); } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      issues = e.issues;
    }
    const got = issues.map((i) => `${i.path}: ${i.message}`);
    for (const re of BROKEN_EXPECTED) assert.ok(got.some((l) => re.test(l)), `${re} not in:\n${got.join('\n')}`);
    assert.equal(got.length, BROKEN_EXPECTED.length, got.join('\n'));
    await assert.rejects(startRelayingGateway({ config: { plugins: [{ name: 'rules', rules: [BROKEN_RULES[0]] }] } }), /rules\[0\] \(name "spam-no"\)/);
  });

  it('still takes what works: weekday names whole or in three letters, a whole-day range, ASCII reply text', async () => {
    await validateConfig({ plugins: [{ name: 'rules', rules: [
      { name: 'days', when: { weekday: ['Sunday', 'mon-friday'], time: '00:00-24:00' }, actions: [{ reject: 'Not wanted, thanks' }] },
      { name: 'x-ok', actions: [{ add_header: { name: 'X-Policy', value: 'Grüße' } }, { remove_header: 'X-Spam-Flag' }] },
    ] }] });
  });
});

describe('plugins/rules in a gateway, as an admin\'s rules meet real mail', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-rules-walk-'));
    const idn = path.join(dir, 'idn.txt');
    writeFileSync(idn, '# partner domains\nbücher.example\n');
    const bosses = path.join(dir, 'bosses.txt');
    writeFileSync(bosses, 'boss@corp.example\n');
    gw = await startRelayingGateway({ config: {
      domains: DOMAINS,
      plugins: [{
        name: 'rules', lists: { idn, bosses },
        rules: [
          { name: 'idn-domain', when: { to: { domain: 'bücher.example' } }, actions: [{ add_header: { name: 'X-Idn-Domain', value: 'yes' } }] },
          { name: 'idn-glob', when: { to: '*@bücher.example' }, actions: [{ add_header: { name: 'X-Idn-Glob', value: 'yes' } }] },
          { name: 'idn-list', when: { to: { list: 'idn' } }, actions: [{ add_header: { name: 'X-Idn-List', value: 'yes' } }] },
          { name: 'trap', when: { to: 'trap@corp.example' }, actions: [{ add_header: { name: 'X-Trap', value: 'yes' } }] },
          { name: 'ceo', when: { to: { address: 'ceo@corp.example' } }, actions: [{ add_header: { name: 'X-Ceo', value: 'yes' } }] },
          { name: 'boss', when: { from: { list: 'bosses' } }, actions: [{ add_header: { name: 'X-Boss', value: 'yes' } }] },
          { name: 'new-from', when: { subject: '^rewrite-me' }, actions: [{ add_header: { name: 'Subject', value: 'rewritten' } }, { add_header: { name: 'From', value: 'Policy <policy@corp.example>' } }] },
          { name: 'add-foo', when: { subject: '^foo-chain' }, actions: [{ add_header: { name: 'X-Foo', value: 'added' } }] },
          { name: 'drop-foo', when: { subject: '^foo-chain' }, actions: [{ remove_header: 'X-Foo' }] },
          { name: 'urgent', when: { subject: 'urgent' }, actions: [{ tag_subject: '[URGENT]' }] },
          { name: 'spamtrap', when: { to: 'spamtrap@corp.example' }, actions: ['discard'] },
          { name: 'lottery', when: { subject: '^lottery' }, actions: ['discard'] },
        ],
      }],
    } });
  });
  after(async () => { await gw?.stop(); rmSync(dir, { recursive: true, force: true }); });

  it('an IDN domain in a rule, a glob or a list file matches the recipient in either form', async () => {
    assert.equal((await send(gw.port, 'a@elsewhere.example', ['u@xn--bcher-kva.example'], testMessage({ subject: 'idn-ascii' }))).code, 250);
    const ascii = head(await gw.sink.waitForText('idn-ascii'));
    assert.equal((await send(gw.port, 'a@elsewhere.example', ['u@bücher.example'], testMessage({ subject: 'idn-unicode' }), true)).code, 250);
    const unicode = head(await gw.sink.waitForText('idn-unicode'));
    for (const h of [ascii, unicode]) {
      assert.match(h, /^X-Idn-Domain: yes\r?$/m, h);
      assert.match(h, /^X-Idn-Glob: yes\r?$/m, h);
      assert.match(h, /^X-Idn-List: yes\r?$/m, h);
    }
  });

  it('+tags and case do not slip past address rules and list entries (recipient_delimiter "+")', async () => {
    assert.equal((await send(gw.port, 'boss+x@corp.example', ['trap+spam@corp.example', 'CEO+Board@Corp.Example'], testMessage({ subject: 'tags-1' }))).code, 250);
    const h = head(await gw.sink.waitForText('tags-1'));
    assert.match(h, /^X-Trap: yes\r?$/m, h);
    assert.match(h, /^X-Ceo: yes\r?$/m, h);
    assert.match(h, /^X-Boss: yes\r?$/m, h);
  });

  it('add_header of a field allowed once replaces it: one Subject, one From', async () => {
    assert.equal((await send(gw.port, 'a@elsewhere.example', ['ann@example.com'], testMessage({ subject: 'rewrite-me 1', body: 'marker-rewrite\r\n' }))).code, 250);
    const h = head(await gw.sink.waitForText('marker-rewrite'));
    assert.deepEqual(h.match(/^Subject:.*$/gim)?.map((l) => l.trim()), ['Subject: rewritten'], h);
    assert.deepEqual(h.match(/^From:.*$/gim)?.map((l) => l.trim()), ['From: Policy <policy@corp.example>'], h);
  });

  it('remove_header also removes a field an earlier rule added', async () => {
    assert.equal((await send(gw.port, 'a@elsewhere.example', ['ann@example.com'], testMessage({ subject: 'foo-chain 1', headers: { 'X-Foo': 'from the client' } }))).code, 250);
    const h = head(await gw.sink.waitForText('foo-chain 1'));
    assert.doesNotMatch(h, /^X-Foo:/im, h);
  });

  it('tag_subject does not add a tag the Subject already carries', async () => {
    assert.equal((await send(gw.port, 'a@elsewhere.example', ['ann@example.com'], testMessage({ subject: '[URGENT] Re: [URGENT] call me' }))).code, 250);
    const again = head(await gw.sink.waitForText('call me'));
    assert.deepEqual(again.match(/^Subject:.*$/gim)?.map((l) => l.trim()), ['Subject: [URGENT] Re: [URGENT] call me'], again);
    assert.equal((await send(gw.port, 'a@elsewhere.example', ['ann@example.com'], testMessage({ subject: 'Re: [urgent] second' }))).code, 250);
    const lower = head(await gw.sink.waitForText('second'));
    assert.deepEqual(lower.match(/^Subject:.*$/gim)?.map((l) => l.trim()), ['Subject: Re: [urgent] second'], lower);
    assert.equal((await send(gw.port, 'a@elsewhere.example', ['ann@example.com'], testMessage({ subject: 'urgent third' }))).code, 250);
    const fresh = head(await gw.sink.waitForText('urgent third'));
    assert.deepEqual(fresh.match(/^Subject:.*$/gim)?.map((l) => l.trim()), ['Subject: [URGENT] urgent third'], fresh);
  });

  it('a discard rule on `to` drops only the recipients it matched; one without `to` drops them all', async () => {
    const r = await send(gw.port, 'a@elsewhere.example', ['spamtrap+x@corp.example', 'ann@example.com'], testMessage({ subject: 'trap-mixed' }));
    assert.equal(r.code, 250);
    const qid = /queued as (\S+)/.exec(r.text)?.[1];
    await gw.sink.waitForText('trap-mixed');
    const m = gw.sink.messages.find((x) => x.raw.toString('latin1').includes('trap-mixed'))!;
    assert.deepEqual(m.rcptTo, ['ann@example.com']);
    const discarded = gw.logs.filter((l) => l.msg === 'recipient discarded' && l.qid === qid);
    assert.deepEqual(discarded.map((l) => [rcptOf(l), l.reason]), [['spamtrap+x@corp.example', 'rule spamtrap']]);

    const all = await send(gw.port, 'a@elsewhere.example', ['ann@example.com', 'bob@example.com'], testMessage({ subject: 'lottery-all' }));
    assert.equal(all.code, 250);
    const allQid = /queued as (\S+)/.exec(all.text)?.[1];
    assert.deepEqual(gw.logs.filter((l) => l.msg === 'recipient discarded' && l.qid === allQid).map(rcptOf), ['ann@example.com', 'bob@example.com']);
  });
});
