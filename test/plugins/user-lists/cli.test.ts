// `moat lists` spawned as a process on the configured store: what it writes a running gateway applies, bad input is
// refused with exit 64, and a removal of what is not listed fails with exit 1.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { send } from './session.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

function moat(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [MOAT, 'lists', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out, err })));
}

describe('moat lists', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  let config: string;
  before(async () => {
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'user-lists', recipient_delimiter: '-' }] } });
    config = path.join(gw.dataDir, 'lists.yaml');
    writeFileSync(config, `data_dir: ${gw.dataDir}\ndomains: [example.com]\nplugins:\n  - name: user-lists\n    recipient_delimiter: "-"\n`);
  });
  after(async () => { await gw?.stop(); });

  it('block writes an entry the running gateway applies at once, for the untagged recipient', async () => {
    const r = await moat('block', 'Bob-Lists@Example.com', '@Spam.test', '--config', config);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.trim(), 'added @spam.test to the block list of bob@example.com');
    const sent = await send(gw.port, { ip: '203.0.113.50', from: 'x@spam.test', to: ['bob@example.com'] });
    assert.equal(sent.rcpts[0].code, 550);
  });

  it('allow, show (text and JSON), remove', async () => {
    assert.equal((await moat('allow', 'bob@example.com', 'Ann@Friends.test', '--config', config)).code, 0);
    const again = await moat('allow', 'bob@example.com', 'ann@friends.test', '--config', config);
    assert.equal(again.out.trim(), 'ann@friends.test is already on the allow list of bob@example.com');
    const text = await moat('show', 'bob@example.com', '--config', config);
    assert.equal(text.out, 'recipient bob@example.com\nallow: ann@friends.test\nblock: @spam.test\n');
    const json = await moat('show', 'bob-x@example.com', '--json', '--config', config);
    assert.deepEqual(JSON.parse(json.out), { recipient: 'bob@example.com', allow: ['ann@friends.test'], block: ['@spam.test'] });
    const removed = await moat('remove', 'block', 'bob@example.com', '@spam.test', '--config', config);
    assert.equal(removed.code, 0, removed.err);
    assert.equal((await send(gw.port, { ip: '203.0.113.51', from: 'x@spam.test', to: ['bob@example.com'] })).rcpts[0].code, 250);
  });

  it('remove of an entry not listed fails with exit 1 and says so', async () => {
    const r = await moat('remove', 'allow', 'bob@example.com', '@never.test', '--config', config);
    assert.equal(r.code, 1);
    assert.match(r.err, /@never\.test is not on the allow list of bob@example\.com/);
  });

  it('refuses a bad entry, a bad recipient and a wrong command line with exit 64', async () => {
    const bad = await moat('allow', 'bob@example.com', 'friends.test', '--config', config);
    assert.equal(bad.code, 64);
    assert.match(bad.err, /^not a list entry: friends\.test/);
    const rcpt = await moat('show', 'example.com', '--config', config);
    assert.equal(rcpt.code, 64);
    assert.match(rcpt.err, /^not a recipient address: example\.com/);
    assert.equal((await moat('remove', 'maybe', 'bob@example.com', '@x.test', '--config', config)).code, 64);
    assert.equal((await moat('frob', '--config', config)).code, 64);
    assert.equal((await moat('show', 'bob@example.com', '--bogus')).code, 64);
  });
  it('moves an entry off the other list, as the quarantine page does: the latest wish wins', async () => {
    assert.equal((await moat('block', 'carol@example.com', 'news@shop.test', '--config', config)).code, 0);
    const r = await moat('allow', 'carol@example.com', 'news@shop.test', '--config', config);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'added news@shop.test to the allow list of carol@example.com\nremoved news@shop.test from the block list of carol@example.com\n');
    assert.equal(r.err, '', 'a recipient of the config\'s domains, with the plugin in the config: no note');
    const shown = JSON.parse((await moat('show', 'carol@example.com', '--json', '--config', config)).out);
    assert.deepEqual([shown.allow, shown.block], [['news@shop.test'], []]);
  });

  it('notes on stderr lists nothing applies: no user-lists plugin, or a recipient outside the domains', async () => {
    const bare = path.join(gw.dataDir, 'bare.yaml');
    writeFileSync(bare, `data_dir: ${gw.dataDir}\ndomains: [example.com]\n`);
    const r = await moat('show', 'zed@elsewhere.test', '--json', '--config', bare);
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(r.out), { recipient: 'zed@elsewhere.test', allow: [], block: [] }, 'stdout stays one JSON line');
    assert.match(r.err, /^note: the config has no user-lists plugin: these lists are kept but not applied to mail$/m);
    assert.match(r.err, /^note: elsewhere\.test is not one of the config's domains: the gateway takes no mail for zed@elsewhere\.test, so its lists never apply$/m);
  });
});
