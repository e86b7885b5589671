// `moat clamav test` and `moat doctor` against a real clamd, run in-process with their output captured.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { run as clamavCli } from '../../../scripts/cli/clamav.ts';
import { run as doctorCli } from '../../../scripts/cli/doctor.ts';
import { startClamd, type ClamdHandle } from '../../helpers/clamd.ts';
import { capture } from '../../helpers/console-capture.ts';
import { freePort } from '../../helpers/ports.ts';

const MOAT = path.resolve(import.meta.dirname, '../../../scripts/moat.js');

function moat(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MOAT, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

describe('clamav command line: moat clamav test, moat doctor', function () {
  let clamd: ClamdHandle;
  let config: string;

  before(async () => {
    clamd = await startClamd();
    config = path.join(clamd.dir, 'mailmoat.yaml');
    fs.writeFileSync(config, `plugins:\n  - name: clamav\n    socket: clamd.sock\n  - name: clamav\n    host: 127.0.0.1\n    port: ${clamd.port}\n`);
  });
  after(async () => { await clamd?.close(); });
  afterEach(async () => { await clamd.start(); });

  it('clamav test catches EICAR through the configured clamd (socket relative to the config file)', async () => {
    const { code, out } = await capture(() => clamavCli(['test', '--config', config]));
    assert.equal(code, 0, out);
    assert.match(out, /scanner: clamd unix:.*clamd\.sock/);
    assert.match(out, /EICAR test file: caught as Mailmoat\.Test\.EICAR/);
    assert.match(out, /EICAR as a mail attachment: caught as Mailmoat\.Test\.EICAR/);
  });

  it('clamav test with a command-line scanner and with flags instead of the config', async () => {
    const cmd = await capture(() => clamavCli(['test', '--command', `clamscan --no-summary -d ${clamd.dbDir} {file}`]));
    assert.equal(cmd.code, 0, cmd.out);
    const tcp = await capture(() => clamavCli(['test', '--host', '127.0.0.1', '--port', String(clamd.port)]));
    assert.equal(tcp.code, 0, tcp.out);
    assert.match(tcp.out, new RegExp(`scanner: clamd 127\\.0\\.0\\.1:${clamd.port}`));
  });

  it('clamav test says when the scanner misses EICAR or does not answer', async () => {
    const blind = await capture(() => clamavCli(['test', '--command', 'true {file}']));
    assert.equal(blind.code, 1, blind.out);
    assert.match(blind.out, /NOT caught/);
    await clamd.stop();
    const down = await capture(() => clamavCli(['test', '--config', config]));
    assert.equal(down.code, 2, down.out);
    assert.match(down.out, /no answer: .*ENOENT/);
    assert.equal((await capture(() => clamavCli(['scan']))).code, 64);
  });

  it('clamav test against a hung clamd (SIGSTOP) stops at a PING it does not answer, rather than three scan_timeouts', async () => {
    clamd.pause();
    try {
      const hung = await capture(() => clamavCli(['test', '--config', config]));
      assert.equal(hung.code, 2, hung.out);
      assert.match(hung.out, /^no answer: clamd at unix:\S+clamd\.sock: no reply within 2000 ms \(asked for PING, for at most 2000 ms\): is clamd running, and not stopped or overloaded\?$/m);
      assert.doesNotMatch(hung.out, /EICAR/, 'no scan was tried');
    } finally {
      clamd.resume();
    }
    assert.equal((await capture(() => clamavCli(['test', '--config', config]))).code, 0, 'clamd answers again once let go on');
  });

  it('doctor does not check DNS for a clamav-only config (exit 0 with a dead resolver), and checks it once rbl is added', async () => {
    const deadDns = `127.0.0.1:${await freePort()}`;
    const base = `data_dir: ./doctor-data\ndomains: [doctor.test]\ndns:\n  servers: ['${deadDns}']\n  timeout: 300ms\n  tries: 1\nplugins:\n  - name: clamav\n    socket: clamd.sock\n`;
    const only = path.join(clamd.dir, 'clamav-only.yaml');
    fs.writeFileSync(only, base);
    const quiet = await capture(() => doctorCli(['--config', only]));
    assert.equal(quiet.code, 0, quiet.out);
    assert.match(quiet.out, /^ok {3}dns: not checked: nothing in the config uses 127\.0\.0\.1:\d+ \(no plugin that looks names up, no route via mx\)$/m);
    const withRbl = path.join(clamd.dir, 'clamav-rbl.yaml');
    fs.writeFileSync(withRbl, `${base}  - name: rbl\n    zones:\n      - zone: bl.doctor.test\n`);
    const checked = await capture(() => doctorCli(['--config', withRbl]));
    assert.equal(checked.code, 1, checked.out);
    assert.match(checked.out, /^FAIL dns: 127\.0\.0\.1:\d+: MX of doctor\.test: .* \(meanwhile mail is deferred with 4xx \(plugin rbl\)\)$/m);
  });

  it('runs as `moat clamav test` and `moat doctor` through the moat entry point', async () => {
    const test = await moat(['clamav', 'test', '--config', config]);
    assert.equal(test.code, 0, test.out);
    assert.match(test.out, /The scanner works\./);
    const doc = await moat(['doctor', '--config', config]);
    assert.equal(doc.code, 0, doc.out);
    assert.match(doc.out, /clamd: plugins\[0\]: clamd at unix:/);
  });

  it('doctor reports clamd\'s version on each configured address, and a failure when it is down', async () => {
    const up = await capture(() => doctorCli(['--config', config]));
    assert.equal(up.code, 0, up.out);
    assert.match(up.out, /ok {3}clamd: plugins\[0\]: clamd at unix:.* answers in \d+ ms: ClamAV \d+\.\d+\.\d+/);
    assert.match(up.out, /ok {3}clamd: plugins\[1\]: clamd at 127\.0\.0\.1:\d+ answers/);
    await clamd.stop();
    const down = await capture(() => doctorCli(['--config', config]));
    assert.equal(down.code, 1);
    assert.match(down.out, /FAIL clamd: plugins\[1\]: no answer: .*ECONNREFUSED \(mail is deferred with 451 until it does\)/);
  });
});
