// `moat check-config` and `moat doctor`, run as the real CLI, on a smarthost or route that is the gateway itself.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { SMTPServer } from 'smtp-server';
import { freePort } from '../helpers/ports.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', 'scripts', 'moat.js');

function moat(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MOAT, ...args], (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, out: stdout, err: stderr });
    });
  });
}

describe('check-config and doctor on a next hop that is the gateway itself', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailmoat-loops-cli-')); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function config(name: string, lines: string[]): string {
    const file = path.join(dir, `${name}.yaml`);
    fs.mkdirSync(path.join(dir, `${name}-data`), { recursive: true });
    fs.writeFileSync(file, [`data_dir: ${path.join(dir, `${name}-data`)}`, 'domains: [example.com]', ...lines, ''].join('\n'));
    return file;
  }

  it('check-config warns for a smarthost or route URL that is one of the listen addresses, and still passes', async () => {
    const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
    const file = config('warn', [
      `server:\n  hostname: mx.loop.test\n  listen: ['127.0.0.1:${p1}']\n  submission_listen: ['0.0.0.0:${p2}']`,
      `smarthost: smtp://127.0.0.1:${p1}`,
      `routes:\n  partner.test: smtp://localhost:${p2}\n  other.test: smtp://127.0.0.1:${p3}`,
    ]);
    const r = await moat(['check-config', '--config', file]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, new RegExp(`^warning: smarthost: smtp://127\\.0\\.0\\.1:${p1} is this gateway's own listener \\(server\\.listen 127\\.0\\.0\\.1:${p1}\\): mail sent there would loop back, and bounces with 5\\.4\\.6$`, 'm'));
    assert.match(r.err, new RegExp(`^warning: routes\\.partner\\.test: smtp://localhost:${p2} is this gateway's own listener \\(server\\.submission_listen 0\\.0\\.0\\.0:${p2}\\)`, 'm'));
    assert.doesNotMatch(r.err, /other\.test: \S+ is this gateway's own listener/, 'a port nothing of ours listens on is not warned about');
  });

  it('doctor fails a smarthost that is one of the listen addresses, without connecting to it', async () => {
    const port = await freePort();
    const file = config('own', [`server:\n  hostname: mx.loop.test\n  listen: ['127.0.0.1:${port}']`, `smarthost: smtp://127.0.0.1:${port}`]);
    const r = await moat(['doctor', '--config', file]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, new RegExp(`^FAIL smarthost: smarthost smtp://127\\.0\\.0\\.1:${port} is this gateway's own listener \\(server\\.listen 127\\.0\\.0\\.1:${port}\\): mail for it would loop back, and bounces with 5\\.4\\.6$`, 'm'));
  });

  it('doctor fails a smarthost that greets with the gateway\'s own hostname', async () => {
    const sink = new SMTPServer({ name: 'mx.loop.test', authOptional: true, disabledCommands: ['STARTTLS'], logger: false });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
    try {
      const sinkPort = (sink.server.address() as net.AddressInfo).port;
      const file = config('named', [`server:\n  hostname: mx.loop.test\n  listen: ['127.0.0.1:${await freePort()}']`, `smarthost: smtp://127.0.0.1:${sinkPort}`]);
      const r = await moat(['doctor', '--config', file]);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, new RegExp(`^FAIL smarthost: smarthost smtp://127\\.0\\.0\\.1:${sinkPort}: mail loop: 127\\.0\\.0\\.1:${sinkPort} greeted us with our own hostname mx\\.loop\\.test: 220 mx\\.loop\\.test .*\\(mail for it bounces with 5\\.4\\.6 loops back to myself; give that server a hostname other than mx\\.loop\\.test\\)$`, 'm'));
      assert.doesNotMatch(r.out, /^ok {3}smarthost/m);
    } finally {
      await new Promise<void>((r) => sink.close(() => r()));
    }
  });
});
