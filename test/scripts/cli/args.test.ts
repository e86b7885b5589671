// Every `moat` command reads its options the same strict way: a mistake gets the command's usage and exit code 64.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');
const moat = (...args: string[]) => spawnSync(process.execPath, [MOAT, ...args], { encoding: 'utf8', timeout: 30_000 });

describe('moat command lines', function () {
  this.timeout(60_000);
  for (const command of ['start', 'check-config', 'metrics', 'send', 'user', 'queue', 'bayes', 'greylist', 'clamav', 'doctor']) {
    it(`moat ${command}: an unknown option is refused with the usage (64), --help prints it (0)`, () => {
      const bad = moat(command, '--no-such-option');
      assert.equal(bad.status, 64, bad.stderr);
      assert.match(bad.stderr, /Unknown option '--no-such-option'/);
      assert.match(bad.stderr, new RegExp(`usage: moat ${command}`));
      const help = moat(command, '--help');
      assert.equal(help.status, 0, help.stderr);
      assert.match(help.stdout, new RegExp(`usage: moat ${command}`));
    });
  }

  it('moat with no command, or an unknown one, is a usage error (64); moat --help is not (0)', () => {
    const none = moat();
    assert.equal(none.status, 64);
    assert.match(none.stderr, /usage: moat <command>/);
    const unknown = moat('frobnicate');
    assert.equal(unknown.status, 64);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    const help = moat('--help');
    assert.equal(help.status, 0);
    assert.match(help.stdout, /usage: moat <command>/);
  });

  it('every command moat --help lists answers --help with its usage (0)', () => {
    const listed = /^commands: (.+)$/m.exec(moat('--help').stdout)?.[1].split(', ') ?? [];
    assert.ok(listed.includes('doctor') && !listed.includes('doctor-checks'), listed.join());
    for (const command of listed) {
      const help = moat(command, '--help');
      assert.equal(help.status, 0, `${command}: ${help.stderr}`);
      assert.match(help.stdout, new RegExp(`usage: moat ${command}`));
    }
  });

  it('takes a repeated option as a list (--set twice)', () => {
    const r = moat('check-config', '--set', 'limits.max_message_size=10MB', '--set', 'server.banner=Moat');
    assert.equal(r.status, 0, r.stderr);
    const wrong = moat('check-config', '--set', 'limits.max_message_size=10MB', '--set', 'limits.max_recipients=many');
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /limits\.max_recipients/);
  });
});
