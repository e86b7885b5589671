// A move to a new host: the gateway is started there once on an empty data_dir (its first digest run has nobody to
// write to), then the old host's quarantine is restored without quarantine-digest.json. The held messages are older
// than that first run, and must still be in the next digest rather than expire unseen.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { runDigest } from '../../../core/quarantine/digest.ts';
import { digestConfigSchema } from '../../../core/quarantine/digest-config.ts';
import { DIGEST_STATE_FILE } from '../../../core/quarantine/digest-state.ts';
import { validate } from '../../../core/config/schema.ts';
import { digestText } from './digest-text.ts';

const HOLD = { plugins: [{ name: 'rules', rules: [{ name: 'hold', when: { subject: '^hold-me' }, actions: [{ quarantine: 'held for review' }] }] }] };

describe('quarantine digest after a restore without its state file', function () {
  this.timeout(60_000);
  let oldDir: string;
  let newDir: string;
  let g: RelayingGateway | undefined;
  beforeEach(() => {
    oldDir = mkdtempSync(path.join(os.tmpdir(), 'mm-digest-old-'));
    newDir = mkdtempSync(path.join(os.tmpdir(), 'mm-digest-new-'));
  });
  afterEach(async () => {
    await g?.stop();
    g = undefined;
    rmSync(oldDir, { recursive: true, force: true });
    rmSync(newDir, { recursive: true, force: true });
  });

  it('a first run with nothing held leaves the period open: mail restored into the quarantine later is in the next digest', async () => {
    // The old host holds a message for bob.
    g = await startRelayingGateway({ dataDir: oldDir, config: HOLD });
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: g.port, secure: false, ignoreTLS: true });
    const info = await t.sendMail({ from: 'prize@lottery.example', to: 'bob@example.com', subject: 'hold-me: restored', text: 'You won!' });
    t.close();
    const qid = /queued as (\S+)/.exec(info.response)![1];
    await g.stop();

    // The new host's first start: the digest runs at once, and finds nobody to write to.
    const config = { ...HOLD, quarantine_digest: { enabled: true, interval: '1h' } };
    g = await startRelayingGateway({ dataDir: newDir, config });
    const stateFile = path.join(newDir, DIGEST_STATE_FILE);
    const first = await waitFor('the first run recorded', () => { try { return JSON.parse(readFileSync(stateFile, 'utf8')) as Record<string, unknown>; } catch { return undefined; } });
    assert.equal(first.last_run, undefined, JSON.stringify(first));
    assert.equal(typeof first.checked, 'number');
    await g.stop();

    // The restore: the quarantine's files, not quarantine-digest.json.
    for (const n of readdirSync(path.join(oldDir, 'quarantine'))) copyFileSync(path.join(oldDir, 'quarantine', n), path.join(newDir, 'quarantine', n));
    g = await startRelayingGateway({ dataDir: newDir, config });
    const rt = g.gateway.runtime;
    const report = await runDigest({
      dataDir: newDir, store: rt.queue, schedule: (e) => rt.delivery.add(e), config: () => validate(digestConfigSchema, { enabled: true }).value,
      hostname: () => 'mx.test', localDomains: () => rt.config.domains,
    });
    assert.equal(report.since, null, 'everything held is listed');
    assert.deepEqual(report.digests.map((d) => [d.to, d.messages]), [['bob@example.com', 1]]);
    const [digest] = await g.sink.waitFor(1);
    assert.match(digestText(digest.raw), new RegExp(`Id: +${qid}`));
    assert.equal(typeof JSON.parse(readFileSync(stateFile, 'utf8')).last_run, 'number', 'a digest sent completes the period');
  });
});
