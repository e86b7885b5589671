// `moat greylist` refuses what it used to ignore (an option of another command, a stray argument, contradictory
// flags, an allow longer than any duration the plugin takes) with exit 64, and `list --client` lists one range.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { moat } from './moat.ts';

describe('moat greylist command lines', () => {
  let dir: string;
  let config: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-glusage-'));
    config = path.join(dir, 'mailmoat.yaml');
    writeFileSync(config, 'data_dir: ./data\nplugins:\n  - name: greylist\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Asserts exit 64 with `why`, and the usage after a command line that does not parse as the command's. */
  const refused = async (args: string[], why: RegExp, usage = true) => {
    const r = await moat(...args, '--config', config);
    assert.equal(r.code, 64, `${args.join(' ')}: exit ${r.code}, ${r.out}`);
    assert.match(r.err, why);
    if (usage) assert.match(r.err, /usage: moat greylist/);
    assert.equal(r.out, '', 'nothing listed, purged or allowed');
  };

  it('refuses a stray argument to list and purge, pointing at --client', async () => {
    await refused(['list', '10.1.2.3'], /list takes no argument, got 10\.1\.2\.3; for one client's: moat greylist list --client 10\.1\.2\.3/);
    await refused(['purge', '10.1.2.3'], /purge takes no argument.*moat greylist purge --client 10\.1\.2\.3/);
  });

  it('refuses an option the command does not take', async () => {
    await refused(['list', '--all'], /list does not take --all/);
    await refused(['allow', '192.0.2.1', '--client', '192.0.2.1'], /allow does not take --client/);
    await refused(['purge', '--for', '2d'], /purge does not take --for/);
    await refused(['list', '--bogus'], /Unknown option '--bogus'/);
  });

  it('refuses contradictory flags', async () => {
    await refused(['list', '--waiting', '--passed'], /--waiting or --passed, not both/);
    await refused(['purge', '--all', '--client', '192.0.2.0/24'], /--all or --client, not both/);
  });

  it('caps allow --for as the plugin caps its durations', async () => {
    await refused(['allow', '192.0.2.1', '--for', '99999d'], /--for: at most 36500d, got 99999d/, false);
    const ok = await moat('allow', '192.0.2.1', '--for', '36500d', '--config', config);
    assert.equal(ok.code, 0, ok.err);
  });

  it('lists the entries of one client range with list --client', async () => {
    assert.equal((await moat('allow', '198.51.100.7', '--config', config)).code, 0);
    const one = JSON.parse((await moat('list', '--client', '198.51.100.7', '--json', '--config', config)).out);
    assert.deepEqual(one.map((e: { client: string }) => e.client), ['198.51.100.0/24']);
    const all = JSON.parse((await moat('list', '--json', '--config', config)).out);
    assert.deepEqual(all.map((e: { client: string }) => e.client).sort(), ['192.0.2.0/24', '198.51.100.0/24']);
  });
});
