// `moat greylist list|allow|purge` against a real embedded store under a temp data_dir, in-process.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { moat } from './moat.ts';
import { openStore } from '../../../core/store/index.ts';
import { Greylister } from '../../../plugins/greylist/greylister.ts';

describe('moat greylist', () => {
  let dir: string;
  let config: string;
  const state = { backend: 'embedded' as const, redis: { url: '', prefix: '' }, purge_interval: 0 };
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-glcli-'));
    config = path.join(dir, 'mailmoat.yaml');
    writeFileSync(config, 'data_dir: ./data\nplugins:\n  - name: greylist\n    ipv4_mask: 28\n    remember: 10d\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('lists waiting and passed entries, as text and as JSON', async () => {
    const store = await openStore(state, path.join(dir, 'data'));
    const g = new Greylister(store, { delay: 0, retryWindow: 86_400_000, remember: 86_400_000, rememberBy: 'triplet' });
    await g.check({ client: '198.51.100.0/28', sender: 'a@example.com', rcpt: 'b@example.net' });
    await store.close();

    const text = await moat('list', '--config', config);
    assert.equal(text.code, 0);
    assert.match(text.out, /waiting\s+198\.51\.100\.0\/28 a@example\.com -> b@example\.net\s+first \d{4}-/);
    const json = await moat('list', '--config', config, '--json', '--waiting');
    const entries = JSON.parse(json.out);
    assert.equal(entries.length, 1);
    assert.deepEqual([entries[0].state, entries[0].client, entries[0].sender, entries[0].rcpt], ['waiting', '198.51.100.0/28', 'a@example.com', 'b@example.net']);
    assert.ok(entries[0].expires > Date.now());
  });

  it('allow remembers a client network with the configured mask, or one triplet with a normalised sender', async () => {
    assert.equal((await moat('allow', '192.0.2.77', '--config', config)).out, 'allowed 192.0.2.64/28 for 10d');
    const r = await moat('allow', '2001:db8::9', 'prvs=1234=Bob+x@Example.com', 'C@example.net', '--for', '2h', '--config', config);
    assert.equal(r.out, 'allowed 2001:db8::/64 bob@example.com -> c@example.net for 2h');
    const passed = JSON.parse((await moat('list', '--passed', '--json', '--config', config)).out);
    assert.deepEqual(passed.map((e: { client: string }) => e.client).sort(), ['192.0.2.64/28', '2001:db8::/64']);
    const two = passed.find((e: { client: string }) => e.client === '2001:db8::/64');
    assert.ok(two.expires - Date.now() <= 2 * 3_600_000 && two.expires - Date.now() > 3_500_000);

    // What allow wrote is what the plugin reads.
    const store = await openStore(state, path.join(dir, 'data'));
    const g = new Greylister(store, { delay: 60_000, retryWindow: 86_400_000, remember: 86_400_000, rememberBy: 'triplet' });
    assert.deepEqual(await g.check({ client: '192.0.2.64/28', sender: 'any@else.example', rcpt: 'x@example.net' }), { action: 'known', by: 'client' });
    await store.close();
  });

  it('purge --client removes one network, purge --all the rest', async () => {
    const one = await moat('purge', '--client', '192.0.2.70', '--config', config);
    assert.equal(one.out, 'removed 1 entries of 192.0.2.64/28');
    const all = await moat('purge', '--all', '--json', '--config', config);
    assert.deepEqual(JSON.parse(all.out), { removed: 2, counters: 0 });
    assert.equal((await moat('list', '--config', config)).out, 'no greylist entries');
  });

  it('purge deletes expired entries from the file', async () => {
    const store = await openStore(state, path.join(dir, 'data'));
    await store.set('greylist:wait:x', '{}', 1);
    await new Promise((r) => setTimeout(r, 10));
    await store.close();
    assert.deepEqual(JSON.parse((await moat('purge', '--json', '--config', config)).out), { removed: 1, counters: 0 });
  });

  it('answers 64 with the usage for a bad command or address', async () => {
    const bad = await moat('frobnicate', '--config', config);
    assert.equal(bad.code, 64);
    assert.match(bad.err, /usage: moat greylist/);
    const addr = await moat('allow', 'mail.example.com', '--config', config);
    assert.equal(addr.code, 64);
    assert.match(addr.err, /not an IP address or CIDR/);
  });
});
