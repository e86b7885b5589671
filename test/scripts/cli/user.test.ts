// `moat user add` reads the password from stdin or from a terminal prompt, and a typed password never shows on the screen.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UsersFile } from '../../../core/auth/users-file.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

describe('moat user add', function () {
  this.timeout(30_000);
  let dir: string;
  let config: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-user-'));
    config = path.join(dir, 'mailmoat.yaml');
    writeFileSync(config, 'data_dir: ./data\n');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('takes the password from stdin', async () => {
    const child = spawn(process.execPath, [MOAT, 'user', 'add', 'bob', '--config', config], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end('from-stdin\n');
    const code = await new Promise((r) => child.once('exit', r));
    assert.equal(code, 0);
    assert.ok(await new UsersFile(path.join(dir, 'data', 'users')).check('bob', 'from-stdin'));
  });

  it('takes --set as moat start does, so it reaches the users file of a gateway started with --set', async () => {
    const users = path.join(dir, 'elsewhere-users');
    const child = spawn(process.execPath, [MOAT, 'user', 'add', 'carol', '--config', config, '--set', `auth.users_file=${users}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end('set-password\n');
    assert.equal(await new Promise((r) => child.once('exit', r)), 0);
    assert.ok(await new UsersFile(users).check('carol', 'set-password'));
  });

  it('does not echo a password typed at the terminal prompt', async () => {
    // util-linux `script` gives the command a pseudo-terminal, as a person at a shell would have.
    const command = [process.execPath, MOAT, 'user', 'add', 'alice', '--config', config].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    const prompted = new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => {
      screen += d.toString();
      if (screen.includes('Password:')) resolve();
    }));
    const exited = new Promise((r) => child.once('exit', r));
    await prompted;
    // Typed once the prompt is up, when the program, not the terminal, decides what is shown.
    child.stdin.write('Typed-S3cret\r');
    assert.equal(await exited, 0, screen);
    assert.match(screen, /user alice saved/);
    assert.doesNotMatch(screen, /Typed-S3cret/);
    assert.ok(readFileSync(path.join(dir, 'data', 'users'), 'utf8').startsWith('alice:scrypt$'));
    assert.ok(await new UsersFile(path.join(dir, 'data', 'users')).check('alice', 'Typed-S3cret'));
  });
});
