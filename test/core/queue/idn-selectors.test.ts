// `moat queue` sees one domain in every spelling of it: mail an older gateway stored under the U-label
// (`müller.example`, taken under SMTPUTF8) and under the A-label (`xn--mller-kva.example`, taken without) is selected
// by --to, --from and --recipient in either spelling, decomposed or in upper case, and `overview` and `--shape` give
// the domain one row, in its A-label form. Real `moat queue` on a real queue: without a gateway (the files) and
// through a running one that took the mail over SMTP.
import assert from 'node:assert/strict';
import { startGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import { queueAged } from './aged-entries.ts';
import { queueBed } from './bed.ts';
import { moatQueue } from './moat-queue.ts';
import { until } from './send.ts';

const MIN = 60_000;
const ids = (r: { json: Array<{ id: string }> }) => r.json.map((row) => row.id).sort();

describe('moat queue selectors and IDN spellings', function () {
  this.timeout(60_000);
  const bed = queueBed('mailmoat-idn-queue-');

  it('selects, counts and holds mail stored under either form of a domain as one domain (from the files)', async () => {
    const { dataDir } = bed;
    const [uLabel, aLabel, other] = (await queueAged(dataDir, [
      { from: 'ann@bücher.example', to: ['jürgen@müller.example'], ageMs: 2 * MIN },
      { from: 'ann@xn--bcher-kva.example', to: ['anna@xn--mller-kva.example'], ageMs: 3 * MIN },
      { from: 'bob@other.example', to: ['otto@other.example'], ageMs: 4 * MIN },
    ])).map((e) => e.id);
    const both = [uLabel, aLabel].sort();
    for (const to of ['müller.example', 'xn--mller-kva.example', '@MÜLLER.example.', 'mu\u0308ller.example', 'XN--MLLER-KVA.EXAMPLE']) {
      const r = await moatQueue(dataDir, 'list', '--to', to, '--json');
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(ids(r), both, `--to ${to}`);
    }
    assert.deepEqual(ids(await moatQueue(dataDir, 'list', '--to', 'JÜRGEN@xn--mller-kva.example', '--json')), [uLabel]);
    assert.deepEqual(ids(await moatQueue(dataDir, 'list', '--to', 'anna@mu\u0308ller.example', '--json')), [aLabel]);
    assert.deepEqual(ids(await moatQueue(dataDir, 'list', '--from', 'ann@xn--bcher-kva.example', '--json')), both);
    assert.deepEqual(ids(await moatQueue(dataDir, 'list', '--from', '<ANN@BÜCHER.EXAMPLE>', '--json')), both);

    const overview = await moatQueue(dataDir, 'overview', '--json');
    assert.deepEqual(overview.json.map((r: { domain: string; messages: number }) => [r.domain, r.messages]), [['xn--mller-kva.example', 2], ['other.example', 1]]);
    // The text names the domain in both forms, so an admin who knows it as müller.example finds it.
    assert.match((await moatQueue(dataDir, 'overview')).stdout, /^xn--mller-kva\.example \(müller\.example\) +2 /m);
    const shape = await moatQueue(dataDir, '--shape', '--json');
    assert.deepEqual(shape.json.domains.map((r: { domain: string; messages: number }) => [r.domain, r.messages]), [['xn--mller-kva.example', 2], ['other.example', 1]]);
    const bySender = await moatQueue(dataDir, '--shape', '--by', 'sender', '--json');
    assert.deepEqual(bySender.json.domains.map((r: { domain: string; messages: number }) => [r.domain, r.messages]), [['xn--bcher-kva.example', 2], ['other.example', 1]]);

    const held = await moatQueue(dataDir, 'hold', '--to', 'müller.example');
    assert.deepEqual([held.code, held.stdout], [0, 'held 2 messages\n'], held.stderr);
    assert.deepEqual(ids(await moatQueue(dataDir, 'list', '--state', 'held', '--json')), both);
    assert.deepEqual(ids(await moatQueue(dataDir, 'list', '--state', 'due,active,deferred', '--json')), [other]);
  });

  it('releases and deletes one recipient of a quarantined message named in the other form (from the files)', async () => {
    const { dataDir } = bed;
    const [entry] = await queueAged(dataDir, [{ from: 'ann@example.org', to: ['jürgen@müller.example', 'anna@müller.example', 'otto@müller.example'], ageMs: MIN, held: true }]);
    const store = new QueueStore(dataDir);
    await store.recover();
    try { await store.commitTo('quarantine', entry); } finally { store.close(); }

    const released = await moatQueue(dataDir, 'release', entry.id, '--recipient', 'jürgen@xn--mller-kva.example');
    assert.deepEqual([released.code, released.stdout], [0, `${entry.id}: released to <jürgen@xn--mller-kva.example>\n`], released.stderr);
    const deleted = await moatQueue(dataDir, 'delete', entry.id, '--recipient', 'ANNA@MU\u0308LLER.EXAMPLE');
    assert.equal(deleted.code, 0, deleted.stdout + deleted.stderr);
    const left = await moatQueue(dataDir, 'list', '--folder', 'quarantine', '--json');
    assert.deepEqual(left.json[0].recipientStatus.map((s: { address: string; status: string }) => [s.address, s.status]),
      [['jürgen@müller.example', 'released'], ['anna@müller.example', 'deleted'], ['otto@müller.example', 'pending']]);
  });

  it('finds the mail a running gateway took with and without SMTPUTF8 by either form, stored in A-labels', async () => {
    const { dataDir, sink } = bed;
    // The recording smarthost (smtp-server) keys a recipient by its domain decoded.
    for (const r of ['jürgen@müller.example', 'anna@müller.example']) sink.rcptReplies.set(r, 451);
    const gw = await startGateway({ dataDir, config: {
      domains: ['müller.example'], smarthost: `smtp://127.0.0.1:${sink.port}`,
      queue: { retry_schedule: ['1h'], bounces: { send: 'off' } },
    } });
    bed.gw = gw;
    const sent: string[] = [];
    for (const [mail, rcpt] of [['MAIL FROM:<ann@example.org> SMTPUTF8', 'RCPT TO:<jürgen@müller.example>'], ['MAIL FROM:<ann@example.org>', 'RCPT TO:<anna@müller.example>']]) {
      const d = await SmtpDialog.connect(gw.port);
      try {
        await d.hello();
        assert.equal((await d.cmd(mail)).code, 250);
        assert.equal((await d.cmd(rcpt)).code, 250);
        const dot = await d.data(testMessage());
        assert.equal(dot.code, 250, dot.text);
        sent.push(/queued as (\S+)/.exec(dot.text)![1]);
      } finally { await d.quit(); }
    }
    await until(() => sent.every((id) => gw.logs.some((l) => l.msg === 'deferred' && l.qid === id)), 15_000, 'both deferred');
    for (const to of ['müller.example', 'xn--mller-kva.example']) assert.deepEqual(ids(await moatQueue(dataDir, 'list', '--to', to, '--json')), sent.sort(), `--to ${to}`);
    const listed = await moatQueue(dataDir, 'list', '--json');
    assert.deepEqual(listed.json.flatMap((r: { recipients: string[] }) => r.recipients).sort(), ['anna@xn--mller-kva.example', 'jürgen@xn--mller-kva.example']);
    const held = await moatQueue(dataDir, 'hold', '--to', 'jürgen@müller.example');
    assert.deepEqual([held.code, held.stdout], [0, 'held 1 message\n'], held.stderr);
  });
});
