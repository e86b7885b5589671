// `moat check-config` and the gateway's start judge a plugin's options alike: each option problem a plugin's start
// refuses is one check-config names by its key path, and a config check-config passes is one the gateway starts with.
// Both sides run for real (the CLI as a child process, the start in this process), so neither can drift unseen.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startGateway } from '../helpers/gateway.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', 'scripts', 'moat.js');

interface BadCase {
  title: string;
  entry: Record<string, unknown>;
  /** The key path under `plugins[0]` check-config must name ('' for the entry itself). */
  key: string;
  message: RegExp;
}

const BAD: BadCase[] = [
  { title: 'greylist: a retry window no longer than the delay', entry: { name: 'greylist', delay: '10m', retry_window: '5m' }, key: 'retry_window', message: /^must be longer than delay, or no retry could ever pass$/ },
  { title: 'greylist: nothing remembered', entry: { name: 'greylist', remember: '0' }, key: 'remember', message: /^must be longer than 0$/ },
  { title: 'greylist: a delay beyond the store\'s arithmetic', entry: { name: 'greylist', delay: '36501d', retry_window: '36502d' }, key: 'delay', message: /^at most 36500d$/ },
  { title: 'spf: a local policy that does not parse', entry: { name: 'spf', local_policy: 'ip4:300.1.1.1/99 include:' }, key: 'local_policy', message: /^bad address in "ip4:300\.1\.1\.1\/99"$/ },
  { title: 'spf: a best guess that does not parse', entry: { name: 'spf', best_guess: 'v=spf1 a/99 ?all' }, key: 'best_guess', message: /^bad prefix length in "a\/99"$/ },
  { title: 'clamav: clamd with no place to reach it', entry: { name: 'clamav' }, key: '', message: /^set `socket` .* or `host`\/`port`/ },
  { title: 'clamav: a command scanner without its command', entry: { name: 'clamav', scanner: 'command' }, key: 'command', message: /needs a `command` with a `template`/ },
  { title: 'clamav: a virus pattern that is no regular expression', entry: { name: 'clamav', scanner: 'command', command: { template: 'true', virus_pattern: '(' } }, key: 'command.virus_pattern', message: /Unterminated group/ },
];

/** Near misses of the cases above that both sides must take, so that the refusals are not just of everything. */
const GOOD: Array<Record<string, unknown>> = [
  { name: 'greylist', delay: '10m', retry_window: '11m', remember: '1d' },
  { name: 'spf', local_policy: 'ip4:198.51.100.0/24 include:trusted.example', best_guess: 'v=spf1 a/24 mx/24 ?all' },
  { name: 'clamav', scanner: 'command', command: { template: 'true {file}', virus_pattern: '(.+) FOUND' } },
];

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('check-config and the start judge plugin options alike', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-parity-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function checkConfig(entry: Record<string, unknown>): { code: number; out: string } {
    const file = path.join(dir, 'mailmoat.yaml');
    writeFileSync(file, stringify({ data_dir: './data', domains: ['example.com'], plugins: [entry] }));
    const r = spawnSync(process.execPath, [MOAT, 'check-config', '--config', file], { encoding: 'utf8', cwd: os.tmpdir() });
    return { code: r.status ?? -1, out: r.stdout + r.stderr };
  }

  /** The start's refusal of the entry, as start and reload report it. */
  async function startError(entry: Record<string, unknown>): Promise<string> {
    try {
      const gw = await startGateway({ config: { plugins: [entry] }, quiet: true });
      await gw.stop();
    } catch (err) {
      return (err as Error).message;
    }
    assert.fail(`the gateway started with ${JSON.stringify(entry)}`);
  }

  for (const c of BAD) {
    it(`both refuse ${c.title}`, async () => {
      const r = checkConfig(c.entry);
      assert.equal(r.code, 1, r.out);
      const at = c.key ? `plugins[0].${c.key}` : 'plugins[0]';
      const line = new RegExp(`^ {2}${escape(at)}: (.*)$`, 'm').exec(r.out);
      assert.ok(line, `check-config names ${at}:\n${r.out}`);
      assert.match(line[1], c.message);
      // The start says the very words check-config printed, in one part of its refusal with the same key.
      const refused = await startError(c.entry);
      const named = new RegExp(c.key ? `(?:^|[\\s.])${escape(c.key)}: ` : '');
      assert.ok(refused.split(/; |\n/).some((part) => part.endsWith(line[1]) && named.test(part)), `start said: ${refused}\ncheck-config said: ${line[0]}`);
    });
  }

  for (const entry of GOOD) {
    it(`both take ${JSON.stringify(entry)}`, async () => {
      const r = checkConfig(entry);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /: OK$/m);
      const gw = await startGateway({ config: { plugins: [entry] }, quiet: true });
      await gw.stop();
    });
  }
});
