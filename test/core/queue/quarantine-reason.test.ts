// `moat queue list --folder quarantine` says why each message is held, as PMG's quarantine list does: a rule's or a
// script's quarantine by its reason (whatever the score), one decided by the score as such; in --json too, as the
// verdict's reason, which the queue entry keeps.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { moatQueue } from './moat-queue.ts';

describe('moat queue list on the quarantine: the reason', function () {
  this.timeout(60_000);
  let g: RelayingGateway;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-quarantine-reason-'));
    const script = path.join(dir, 'hold.js');
    writeFileSync(script, `module.exports = (m) => m.subject === 'script-hold' ? { action: { type: 'quarantine', text: 'odd "invoice" link' } } : null;\n`);
    g = await startRelayingGateway({ config: {
      domains: ['example.com'], scores: { add_header: 5, quarantine: 10, reject: 20 },
      plugins: [
        { name: 'rules', rules: [
          { name: 'spammy-subject', when: { subject: 'offer' }, actions: [{ score: 6 }] },
          { name: 'html-body', when: { subject: 'html' }, actions: [{ quarantine: 'html body from outside' }] },
          { name: 'pills', when: { subject: 'pills' }, actions: [{ score: 12 }] },
        ] },
        { name: 'scripts', scripts: [script] },
      ],
    } });
  });
  after(async () => {
    await g?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function send(subject: string): Promise<string> {
    const c = await SmtpDialog.connect(g.port);
    try {
      assert.equal((await c.hello()).code, 250);
      assert.equal((await c.cmd('MAIL FROM:<shop@example.org>')).code, 250);
      assert.equal((await c.cmd('RCPT TO:<ann@example.com>')).code, 250);
      const r = await c.data(`From: shop@example.org\r\nTo: ann@example.com\r\nSubject: ${subject}\r\n\r\nHello.\r\n`);
      assert.equal(r.code, 250, r.text);
      return /queued as (\S+)/.exec(r.text)![1];
    } finally {
      await c.quit();
    }
  }

  it('lists the rule, the script or the score that held each message', async () => {
    const byRule = await send('special offer in html');
    const byScript = await send('script-hold');
    const byScore = await send('cheap pills');
    const list = await moatQueue(g.dataDir, 'list', '--folder', 'quarantine');
    assert.equal(list.code, 0, list.stderr);
    const block = (id: string) => list.stdout.split('\n').slice(list.stdout.split('\n').findIndex((l) => l.startsWith(id))).slice(0, 5).join('\n');
    assert.match(block(byRule), /^ {4}score 6 {2}RULE_SPAMMY_SUBJECT\n {4}reason: rules: rule html-body: html body from outside$/m);
    assert.match(block(byScript), /^ {4}score 0\n {4}reason: .*odd "invoice" link$/m);
    assert.match(block(byScore), /^ {4}score 12 {2}RULE_PILLS\n {4}reason: score 12 ≥ quarantine threshold 10$/m);

    const json = await moatQueue(g.dataDir, 'list', '--folder', 'quarantine', '--json');
    const rows = json.json as Array<{ id: string; verdict?: { reason?: string } }>;
    const reasonOf = (id: string) => rows.find((r) => r.id === id)?.verdict?.reason;
    assert.equal(reasonOf(byRule), 'rules: rule html-body: html body from outside');
    assert.match(reasonOf(byScript) ?? '', /odd "invoice" link$/);
    assert.equal(reasonOf(byScore), 'score 12 ≥ quarantine threshold 10');
    // The same through the running gateway and from the files alone (bulk-admin.test.ts compares the two).
    assert.deepEqual(rows.find((r) => r.id === byScore)?.verdict, { action: 'quarantine', score: 12, symbols: ['RULE_PILLS'], reason: 'score 12 ≥ quarantine threshold 10' });
  });

  it('lists each held message\'s Subject and when it arrived (UTC), beside its age', async () => {
    const before = Date.now();
    const id = await send('cheap pills =?UTF-8?B?w6A=?= la carte');
    const after = Date.now();
    const list = await moatQueue(g.dataDir, 'list', '--folder', 'quarantine');
    assert.equal(list.code, 0, list.stderr);
    const lines = list.stdout.split('\n');
    const at = lines.findIndex((l) => l.startsWith(id));
    // The Subject decoded, as the digest shows it; the arrival as an ISO time in UTC, to the second.
    assert.equal(lines[at + 1], '    subject: cheap pills à la carte');
    const received = /^ {4}received (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) {2}size \d+/.exec(lines[at + 2]);
    assert.ok(received, lines[at + 2]);
    const shown = Date.parse(received[1]);
    assert.ok(shown >= Math.floor(before / 1000) * 1000 && shown <= after, `${received[1]} between ${new Date(before).toISOString()} and ${new Date(after).toISOString()}`);

    const json = await moatQueue(g.dataDir, 'list', '--folder', 'quarantine', '--json');
    const row = (json.json as Array<{ id: string; subject?: string; receivedAt: number }>).find((r) => r.id === id)!;
    assert.equal(row.subject, 'cheap pills à la carte');
    assert.ok(row.receivedAt >= before && row.receivedAt <= after);
  });
});
