// A recipient's judgement on the quarantine pages teaches the bayes plugin, end to end: a gateway whose rule quarantines
// mail sent to it over SMTP, a recipient dictionary for Ann, signed tickets, real HTTPS POSTs trusting only the
// gateway's certificate, and the dictionary files read after the stop flushed them. This file is also a plugin whose
// feedback fails or hangs: the gateway imports it by its own URL, the module mocha loaded.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { definePlugin, s } from '../../../core/index.ts';
import type { RelayingGateway } from '../../helpers/gateway.ts';
import { ControlClient } from '../../../core/control/client.ts';
import { socketPath } from '../../../core/control/protocol.ts';
import { FEEDBACK_WAIT_MS } from '../../../core/quarantine/http-handlers.ts';
import { loadDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { configSchema } from '../../../plugins/bayes/config.ts';
import { useQuarantinePages } from './gateway-beds.ts';
import type { LogFields } from '../../../core/log/types.ts';

/** Feedback that goes wrong: `throw` fails at once, `hang` takes ten seconds. */
export default definePlugin({
  name: 'feedback-fixture',
  description: 'Test double: a plugin whose feedback throws or hangs',
  configSchema: s.object({ mode: s.enum(['throw', 'hang'] as const).default('throw') }),
  create: (cfg) => ({
    hooks: {},
    async feedback() {
      if (cfg.mode === 'throw') throw new Error('feedback fixture fails on purpose');
      await new Promise((r) => setTimeout(r, 10_000).unref());
    },
  }),
});

type Mode = 'off' | 'own' | 'all';

describe('bayes learn_from_recipients option', () => {
  const issuesOf = (options: Record<string, unknown>) => {
    const issues: Array<{ path: string; message: string }> = [];
    configSchema.parse(options, 'plugins[0]', issues);
    return issues.map((i) => `${i.path}: ${i.message}`);
  };
  it('is off by default, and refuses `own` where no recipient dictionary could learn', () => {
    const none: Array<{ path: string; message: string }> = [];
    assert.equal(configSchema.parse({}, 'plugins[0]', none).learn_from_recipients, 'off');
    assert.deepEqual(issuesOf({ learn_from_recipients: 'own' }),
      ['plugins[0].learn_from_recipients: "own" learns into recipient dictionaries only, and recipient_dictionaries names none, so nothing would be learned: add recipient_dictionaries, or use "all" or "off"']);
    assert.deepEqual(issuesOf({ learn_from_recipients: 'all' }), []);
    assert.deepEqual(issuesOf({ learn_from_recipients: 'own', recipient_dictionaries: [{ recipients: ['ann@example.com'], dictionary: 'ann.tab' }] }), []);
    assert.equal(issuesOf({ learn_from_recipients: 'yes' }).length, 1);
  });
});

describe('bayes learns from recipients\' judgements on the quarantine pages', function () {
  this.timeout(60_000);
  const bed = useQuarantinePages();
  let dir: string;
  /** Every start's folder: a test may start more than once. */
  const made: string[] = [];
  // After the bed's own afterEach, which stops the gateway that writes the dictionaries in them.
  afterEach(() => { for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true }); });
  const annFile = () => path.join(dir, 'ann.tab');
  const sharedFile = () => path.join(dir, 'shared.tab');

  async function start(mode: Mode, before: Record<string, unknown>[] = []): Promise<RelayingGateway> {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bayes-feedback-'));
    made.push(dir);
    return bed.start({
      plugins: [
        ...before,
        { name: 'user-lists' },
        {
          name: 'bayes', dictionary: sharedFile(), seed: 'none', learn_from_recipients: mode,
          recipient_dictionaries: [{ recipients: ['ann@example.com'], dictionary: annFile(), name: 'ann' }],
        },
        { name: 'rules', rules: [{ name: 'hold', when: { subject: '^hold-me' }, actions: [{ quarantine: 'held for review' }] }] },
      ],
    });
  }

  const hold = (to: string, n: number): Promise<string> =>
    bed.send(to, { from: `"Shop" <offers${n}@shop.example>`, subject: `hold-me ${n}`, text: `Our spring catalogue number ${n}: garden chairs, lanterns and seeds.` });
  const { releaseLink, onPage, tickets: issued } = bed;
  /** The bayes plugin's lesson lines about one message. */
  const lessons = (qid: string): LogFields[] => bed.gateway.logs.filter((l) => l.plugin === 'bayes' && l.qid === qid && /^bayes (not )?learned$/.test(String(l.msg)));
  /** Counts in a dictionary file once the gateway stopped and flushed it; a file never written learned nothing. */
  async function counts(file: string): Promise<{ nspam: number; nham: number }> {
    try { const d = await loadDictionary(file); return { nspam: d.nspam, nham: d.nham }; } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { nspam: 0, nham: 0 };
      throw e;
    }
  }
  async function stopAndCount(): Promise<{ ann: { nspam: number; nham: number }; shared: { nspam: number; nham: number } }> {
    await bed.stop();
    return { ann: await counts(annFile()), shared: await counts(sharedFile()) };
  }

  it('own: a release from the digest link teaches Ann\'s dictionary one ham, Always block one spam; Delete, another recipient and the admin teach nothing', async () => {
    await start('own');
    const released = await hold('ann@example.com', 1);
    const blocked = await hold('ann@example.com', 2);
    const deleted = await hold('ann@example.com', 3);
    const bobs = await hold('bob@example.com', 4);
    const adminOne = await hold('ann@example.com', 5);
    const adminAll = await hold('ann@example.com', 6);

    const r = await releaseLink(released, 'ann@example.com');
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(lessons(released).map((l) => [l.msg, l.class, l.why, l.to, l.recipients]),
      [['bayes learned', 'ham', 'released by the recipient', 'ann@example.com', 'ann']], 'learned before the answer, into Ann\'s dictionary only');

    const b = await onPage('ann@example.com', blocked, 'block');
    assert.equal(b.status, 200, b.body);
    assert.match(b.body, /Blocked and deleted/);
    assert.deepEqual(lessons(blocked).map((l) => [l.msg, l.class, l.why, l.recipients]), [['bayes learned', 'spam', 'blocked by the recipient', 'ann']]);

    assert.equal((await onPage('ann@example.com', deleted, 'delete')).status, 200);
    assert.deepEqual(lessons(deleted), [], 'deleting is no judgement');

    assert.equal((await onPage('bob@example.com', bobs, 'release')).status, 200);
    assert.deepEqual(lessons(bobs).map((l) => [l.msg, l.reason]), [['bayes not learned', 'the recipient has no recipient dictionary (learn_from_recipients: own)']]);

    const control = new ControlClient(socketPath(bed.gateway.dataDir));
    assert.equal(await control.releaseForRecipient(adminOne, 'ann@example.com'), 'done');
    assert.equal(await control.release(adminAll), 'done');
    await new Promise((res) => setTimeout(res, 200));
    assert.deepEqual([...lessons(adminOne), ...lessons(adminAll)], [], 'an administrator\'s release is no recipient\'s judgement');
    assert.ok(issued.length >= 4 && issued.every((t) => bed.gateway.logs.every((l) => !JSON.stringify(l).includes(t))), 'no ticket in the log');

    assert.deepEqual(await stopAndCount(), { ann: { nspam: 1, nham: 1 }, shared: { nspam: 0, nham: 0 } });
  });

  it('all: the page\'s Release and Always allow teach Ann\'s dictionary and the shared one', async () => {
    await start('all');
    const one = await hold('ann@example.com', 1);
    const two = await hold('ann@example.com', 2);
    assert.equal((await onPage('ann@example.com', one, 'release')).status, 200);
    assert.deepEqual(lessons(one).map((l) => [l.msg, l.class, l.recipients ?? 'shared']).sort(),
      [['bayes learned', 'ham', 'ann'], ['bayes learned', 'ham', 'shared']]);
    // A recipient's judgement is not held back by the balance rule: a second ham before any spam is learned in both.
    const allowed = await onPage('ann@example.com', two, 'allow');
    assert.equal(allowed.status, 200, allowed.body);
    assert.match(allowed.body, /Allowed and released/);
    assert.deepEqual(lessons(two).map((l) => [l.msg, l.why, l.recipients ?? 'shared']).sort(),
      [['bayes learned', 'released by the recipient', 'ann'], ['bayes learned', 'released by the recipient', 'shared']]);
    assert.deepEqual(await stopAndCount(), { ann: { nspam: 0, nham: 2 }, shared: { nspam: 0, nham: 2 } });
  });

  it('off (the default): a release teaches nothing', async () => {
    await start('off');
    const id = await hold('ann@example.com', 1);
    assert.equal((await releaseLink(id, 'ann@example.com')).status, 200);
    assert.equal((await onPage('ann@example.com', await hold('ann@example.com', 2), 'block')).status, 200);
    assert.deepEqual(bed.gateway.logs.filter((l) => /^bayes (not )?learned$/.test(String(l.msg))), []);
    assert.deepEqual(await stopAndCount(), { ann: { nspam: 0, nham: 0 }, shared: { nspam: 0, nham: 0 } });
  });

  it('a plugin whose feedback throws is logged and passed over; one that hangs holds the answer for the bound only', async () => {
    await start('own', [{ name: 'feedback-fixture', module: import.meta.filename, mode: 'throw' }]);
    const id = await hold('ann@example.com', 1);
    const r = await releaseLink(id, 'ann@example.com');
    assert.equal(r.status, 200, r.body);
    assert.ok(bed.gateway.logs.some((l) => l.msg === 'plugin feedback failed' && l.plugin === 'feedback-fixture' && l.qid === id && l.error === 'feedback fixture fails on purpose'));
    assert.deepEqual(lessons(id).map((l) => l.msg), ['bayes learned'], 'the other plugins still learn');
    await bed.stop();

    await start('own', [{ name: 'feedback-fixture', module: import.meta.filename, mode: 'hang' }]);
    const slow = await hold('ann@example.com', 2);
    const t0 = Date.now();
    const answered = await onPage('ann@example.com', slow, 'release');
    const ms = Date.now() - t0;
    assert.equal(answered.status, 200, answered.body);
    assert.ok(ms >= FEEDBACK_WAIT_MS - 50 && ms < FEEDBACK_WAIT_MS + 2_000, `answered after ${ms} ms`);
    assert.deepEqual(lessons(slow).map((l) => l.msg), ['bayes learned']);
  });
});
