// A message the gateway scored, then the copy its smarthost received as a mailbox would keep it (a downstream
// Received line and Return-Path prepended, LF line ends), scored again by `moat bayes score`: the same probability,
// since both models read the copy from below the gateway's own Received field.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { fromOutside } from './gateway-beds.ts';
import { writeCorpus } from './fixtures.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

function moat(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [MOAT, 'bayes', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('bayes: a relayed copy scores as the gateway scored it', function () {
  this.timeout(60_000);
  let dir: string;
  let dict: string;
  let gw: RelayingGateway;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-relayed-'));
    const corpus = writeCorpus(path.join(dir, 'corpus'), 40);
    dict = path.join(dir, 'dict.tab');
    const made = moat('create', dict, corpus.spamDir, corpus.hamDir);
    assert.equal(made.code, 0, made.err);
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'bayes', dictionary: dict, seed: 'none', min_learned: 10 }] } });
  });
  after(async () => {
    await gw?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the mailbox\'s copy, with a downstream Received line and Return-Path on top, gives the probability the gateway logged', async () => {
    // A sender the dictionary never saw, and words of both kinds: a probability far from 0 and 1, where a change shows.
    const client = [
      'From: "Carol" <carol@newcomer.test>', 'To: bob@example.com', 'Subject: relayed-copy budget offer', 'Message-ID: <77.x@newcomer.test>',
      'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '', 'the budget offer for the team: cheap prize and bonus, please review the agenda today', '',
    ].join('\r\n');
    assert.equal((await fromOutside(gw.port, client, ['bob@example.com'])).code, 250);
    const relayed = (await gw.sink.waitForText('relayed-copy budget offer')).toString();
    const line = gw.logs.find((l) => l.msg === 'message' && String(l.to) === 'bob@example.com')!;
    const band = (line.details as string[]).find((d) => /^BAYES_/.test(d))!;
    const logged = /p=([\d.]+)/.exec(band)![1];
    assert.match(relayed, /^Received: from .*\r\n\tby mx\.test\.example \(Mailmoat\) with ESMTP id /, 'the gateway\'s own field is on top');
    assert.match(relayed, new RegExp(`^X-Mailmoat-Bayes: ${logged.replace('.', '\\.')}\\r$`, 'm'));

    const copy = [
      'Return-Path: <x@sender.test>',
      'Delivered-To: bob@example.com',
      'Received: from mx.test.example (mx.test.example [192.0.2.25])',
      '\tby imap.example.com (Postfix) with ESMTP id 4FqXyZ1234',
      '\tfor <bob@example.com>; Sun, 22 Nov 2026 20:00:01 +0000 (UTC)',
      '',
    ].join('\n') + relayed.replace(/\r\n/g, '\n');
    const file = path.join(dir, 'copy.eml');
    fs.writeFileSync(file, copy);
    const scored = moat('score', dict, file, '--json');
    assert.equal(scored.code, 0, scored.err);
    const p = JSON.parse(scored.out.trim().split('\n')[0]).probability as number;
    assert.ok(p > 0.05 && p < 0.95, `a probability where a change shows: ${p}`);
    assert.equal(p.toFixed(4), logged, `the copy scored ${p}, the gateway logged ${logged}`);
    // And the client's own message, saved as it was sent, scores the same to the last digit.
    const original = path.join(dir, 'original.eml');
    fs.writeFileSync(original, client);
    assert.equal(JSON.parse(moat('score', dict, original, '--json').out.trim().split('\n')[0]).probability, p);
  });
});
