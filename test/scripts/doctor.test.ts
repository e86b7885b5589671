// `moat doctor` says "ok config" only where check-config does, fails a command-line virus scanner that cannot run, and
// reads the config options `moat start` takes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const MOAT = path.resolve(import.meta.dirname, '..', '..', 'scripts', 'moat.js');

describe('moat doctor: the config and the command-line scanner', function () {
  this.timeout(30_000);
  let dir: string;
  before(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-doctor-cli-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** No domain, so the DNS check asks nobody: the checks here touch only files and the scanner. */
  function doctor(yaml: string, ...args: string[]): { code: number; out: string } {
    const file = path.join(dir, 'mailmoat.yaml');
    writeFileSync(file, `data_dir: ./data\n${yaml}`);
    const r = spawnSync(process.execPath, [MOAT, 'doctor', '--config', file, ...args], { encoding: 'utf8', cwd: dir });
    return { code: r.status ?? -1, out: r.stdout + r.stderr };
  }

  it('fails a certificate that check-config and the start refuse, and goes on with the other checks', () => {
    writeFileSync(path.join(dir, 'junk.crt'), 'not a certificate\n');
    writeFileSync(path.join(dir, 'junk.key'), 'not a key\n');
    const r = doctor('server:\n  tls:\n    cert: junk.crt\n    key: junk.key\n');
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /^FAIL config: .*mailmoat\.yaml: server\.tls \(cert .*junk\.crt, key .*junk\.key\): not a usable certificate and key/m);
    assert.doesNotMatch(r.out, /^ok {3}config/m);
    assert.match(r.out, /^ok {3}data_dir: /m);
  });

  it('names both a missing certificate and a missing key', () => {
    const r = doctor('server:\n  tls:\n    cert: gone.crt\n    key: gone.key\n');
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /^FAIL config: .*server\.tls\.cert: cannot read .*gone\.crt: ENOENT$/m);
    assert.match(r.out, /^FAIL config: .*server\.tls\.key: cannot read .*gone\.key: ENOENT$/m);
  });

  it('fails a schema error with its key path and checks nothing else', () => {
    const r = doctor('domains: "a.example, b.example"\n');
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /^FAIL config: .*domains\[0\]: .*write a list: domains: \[a\.example, b\.example\]$/m);
    assert.doesNotMatch(r.out, /data_dir:/);
  });

  it('fails a command-line scanner whose program does not exist, saying what mail gets meanwhile', () => {
    const missing = path.join(dir, 'no-such-scanner');
    const r = doctor(`plugins:\n  - name: clamav\n    scanner: command\n    command:\n      template: "${missing} --stdout {file}"\n`);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, new RegExp(`^FAIL clamd: plugins\\[0\\]: command-line scanner ${missing} is not an executable file \\(every message is deferred with 451\\)$`, 'm'));
    const onPath = doctor('plugins:\n  - name: clamav\n    scanner: command\n    on_error: accept\n    command:\n      template: "mailmoat-no-such-scanner {file}"\n');
    assert.equal(onPath.code, 1, onPath.out);
    assert.match(onPath.out, /^FAIL clamd: plugins\[0\]: command-line scanner mailmoat-no-such-scanner is not an executable file on PATH \(every message passes unscanned with a warning header\)$/m);
  });

  it('runs a command-line scanner on harmless text: ok when clean, FAIL when it errs or calls it infected', () => {
    const scanner = path.join(dir, 'scanner.sh');
    // Exits with the code in SCAN_EXIT, as a scanner would: 0 clean, 1 infected, 2 error.
    writeFileSync(scanner, '#!/bin/sh\ntest -r "$2" || exit 2\necho "$2: Test.Sig FOUND"\nexit "$1"\n');
    chmodSync(scanner, 0o755);
    const entry = (code: number) => `plugins:\n  - name: clamav\n    scanner: command\n    command:\n      template: "${scanner} ${code} {file}"\n`;
    const clean = doctor(entry(0));
    assert.equal(clean.code, 0, clean.out);
    assert.match(clean.out, new RegExp(`^ok {3}clamd: plugins\\[0\\]: command-line scanner ${scanner} answers clean in \\d+ ms`, 'm'));
    const infected = doctor(entry(1));
    assert.equal(infected.code, 1, infected.out);
    assert.match(infected.out, /^FAIL clamd: plugins\[0\]: .* calls harmless text infected \(Test\.Sig\)/m);
    const failing = doctor(entry(2));
    assert.equal(failing.code, 1, failing.out);
    assert.match(failing.out, /^FAIL clamd: plugins\[0\]: .*exited with code 2 \(every message is deferred with 451\)$/m);
  });

  it('takes --set as moat start does', () => {
    writeFileSync(path.join(dir, 'a-file'), 'not a folder');
    const r = doctor('', '--set', `data_dir=${path.join(dir, 'a-file')}`);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /^FAIL data_dir: .*a-file is not a folder: the gateway cannot start$/m);
  });
});
