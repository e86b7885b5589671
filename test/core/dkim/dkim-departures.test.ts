// What left, not what intake planned: through a real gateway, two loopback next hops and a loopback DNS server, the
// start line names the signing keys; a message is counted in dkim_signed once, as it first leaves, and the signer
// logs the key it used, also when a reload changed the selector after acceptance; a message whose domain a reload
// took out leaves unsigned, warned and counted in dkim_unsigned{reason}; so does one whose key file went missing.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { UsersFile } from '../../../core/auth/users-file.ts';
import { validateConfig } from '../../../core/config/load.ts';
import { DkimSigner } from '../../../core/dkim/outgoing.ts';
import { Metrics, prometheusText } from '../../../core/metrics.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import type { LogFields } from '../../../core/log/types.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { testMessage } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import type { DnsTestServer } from '../../helpers/dns-server.ts';
import { keyDir, newKey, publish, sendAsAlice as sendAs, verify, type KeyDir } from './dkim-setup.ts';

describe('DKIM signing: what left, logged and counted (core/dkim/departures.ts)', function () {
  this.timeout(60_000);
  let keys: KeyDir;
  let s1: { file: string };
  let s2: { file: string };
  let dns: DnsTestServer;
  let sink: Smarthost;
  let other: Smarthost;
  let gw: TestGateway;

  before(async () => {
    keys = keyDir();
    const k1 = newKey(keys.dir, 's1.key');
    const k2 = newKey(keys.dir, 's2.key');
    s1 = k1;
    s2 = k2;
    dns = await publish('example.com', { s1: k1.record, s2: k2.record });
    sink = await startSmarthost();
    other = await startSmarthost();
    gw = await startGateway({
      config: {
        smarthost: `smtp://127.0.0.1:${sink.port}`,
        routes: { 'other.test': { via: `smtp://127.0.0.1:${other.port}` } },
        dkim: { domains: { 'example.com': { selector: 's1', key_file: k1.file } } },
      },
    });
    new UsersFile(path.join(gw.dataDir, 'users')).add('alice', 'right-password');
  });

  after(async () => {
    await gw?.stop();
    await sink?.stop();
    await other?.stop();
    await dns?.stop();
    keys?.remove();
  });

  const sendAsAlice = (to: string[], subject: string) => sendAs(gw.port, { from: 'alice@example.com', to, subject });
  const snapshot = () => gw.gateway.runtime.metrics.snapshot();
  const signedCount = () => snapshot().dkim_signed as number;
  const unsignedBy = () => snapshot().dkim_unsigned_by_reason as Record<string, number>;
  const lines = (msg: string, qid: string) => gw.logs.filter((l) => l.msg === msg && l.qid === qid);
  const reloadWith = async (domains: Record<string, { selector: string; key_file: string }>) => {
    const running = gw.gateway.runtime.config;
    assert.equal(await gw.gateway.reload({ ...running, dkim: { ...running.dkim, domains } }), true);
  };
  /** Accepted now, held back by a next hop that answers DATA with 451 until `meanwhile` has run. */
  async function acceptedBefore(subject: string, meanwhile: () => Promise<void>): Promise<{ qid: string; raw: Buffer }> {
    sink.dataReply = 451;
    let qid: string;
    try {
      qid = await sendAsAlice(['friend@far.test'], subject);
      await waitFor(`the deferral of ${qid}`, () => lines('deferred', qid)[0]);
      await meanwhile();
    } finally {
      sink.dataReply = undefined;
    }
    return { qid, raw: Buffer.from(await sink.waitForText(subject, 15_000), 'latin1') };
  }

  it('the start line names each signing domain with its selector', () => {
    const started = gw.logs.find((l) => l.msg === 'mailmoat started');
    assert.deepEqual(started?.dkim, ['example.com/s1']);
  });

  it('a message that leaves for two next hops is counted once, and the signer logs each departure with the key used', async () => {
    const before = signedCount();
    const qid = await sendAsAlice(['friend@far.test', 'pal@other.test'], 'two hops');
    await sink.waitForText('two hops');
    await other.waitForText('two hops');
    const signed = await waitFor('both departures logged', () => { const l = lines('DKIM-signed', qid); return l.length === 2 ? l : undefined; });
    assert.deepEqual(signed.map((l) => l.dkim), ['example.com/s1', 'example.com/s1']);
    assert.deepEqual(signed.map((l) => l.to).sort(), [['friend@far.test'], ['pal@other.test']]);
    assert.ok(signed.every((l) => typeof l.relay === 'string' && /127\.0\.0\.1/.test(l.relay as string)), 'each names the next hop');
    assert.equal(signedCount(), before + 1);
  });

  it('a message one next hop takes at once and the other at its retry is counted once', async () => {
    const before = signedCount();
    other.dataReply = 451;
    let qid: string;
    try {
      qid = await sendAsAlice(['friend@far.test', 'pal@other.test'], 'split departure');
      await sink.waitForText('split departure');
      await waitFor('the deferral for other.test', () => lines('deferred', qid)[0]);
    } finally {
      other.dataReply = undefined;
    }
    await other.waitForText('split departure', 15_000);
    await waitFor('both departures logged', () => (lines('DKIM-signed', qid).length === 2 ? true : undefined));
    assert.equal(signedCount(), before + 1);
  });

  it('a reload to another selector after acceptance: the message line names the plan, the signer the key it went with, counted once after a deferral', async () => {
    const before = signedCount();
    const { qid, raw } = await acceptedBefore('reselected', () => reloadWith({ 'example.com': { selector: 's2', key_file: s2.file } }));
    assert.deepEqual((await verify(raw, dns)).map((v) => `${v.selector} ${v.result}`), ['s2 pass']);
    assert.equal(gw.logs.find((l) => l.msg === 'message' && l.qid === qid)?.dkim, 'example.com/s1', 'planned at acceptance');
    const signed = await waitFor('the signer\'s line', () => lines('DKIM-signed', qid)[0]);
    assert.equal(signed.dkim, 'example.com/s2');
    // The attempt the next hop deferred did not leave: it is not counted.
    assert.equal(signedCount(), before + 1);
  });

  it('a reload that takes the domain out: the message leaves unsigned, warned with its qid and counted as no_key', async () => {
    const signedBefore = signedCount();
    const unsignedBefore = unsignedBy();
    const { qid, raw } = await acceptedBefore('key taken out', () => reloadWith({}));
    assert.doesNotMatch(raw.toString('latin1'), /^DKIM-Signature:/im);
    assert.ok(lines('not DKIM-signed: the running config has no key for its domain', qid).some((l: LogFields) => l.dkim === 'example.com'));
    assert.equal(lines('DKIM-signed', qid).length, 0);
    await waitFor('the count', () => (unsignedBy().no_key === unsignedBefore.no_key + 1 ? true : undefined));
    assert.equal(signedCount(), signedBefore);
    assert.match(prometheusText(snapshot()), /^mailmoat_dkim_unsigned_total\{reason="no_key"\} [1-9]/m);
    assert.match(prometheusText(snapshot()), /^mailmoat_dkim_unsigned_total\{reason="key_unreadable"\} 0$/m);
  });

  it('a key file gone when the relay is built: unsigned, said so, and counted as key_unreadable', async () => {
    const gone = newKey(keys.dir, 'gone.key');
    const cfg = (await validateConfig({ dkim: { domains: { 'example.com': { selector: 's9', key_file: gone.file } } } })).dkim;
    rmSync(gone.file);
    const metrics = new Metrics();
    const signer = new DkimSigner(cfg, gw.gateway.runtime.log, metrics);
    const entry = { id: 'gone1', dkim: 'example.com', receivedAt: Date.now(), recipients: [{ address: 'friend@far.test', status: 'pending' }] } as QueueEntry;
    const sent = await signer.sign(entry, () => Readable.from([Buffer.from(testMessage({ from: 'alice@example.com' }))]));
    assert.equal(sent.added, 0);
    signer.left(entry, sent, 'sink[127.0.0.1]:25', ['friend@far.test']);
    signer.left(entry, sent, 'other[127.0.0.1]:25', ['pal@other.test']);
    assert.deepEqual(metrics.snapshot().dkim_unsigned_by_reason, { no_key: 0, key_unreadable: 1, signing_error: 0 });
    assert.equal(metrics.snapshot().dkim_signed, 0);
    assert.ok(lines('not DKIM-signed: its domain\'s key could not be read at the last start or reload', 'gone1').length === 1);
  });
});
