// `moat --version` and the `mailmoat started` line: package.json's version, and the commit when the code runs from a
// git checkout. The real CLI in this checkout (compared with what git itself says) and in a copy of the tree without
// .git; the reading of .git on hand-made folders in the shapes git leaves (a packed branch, a detached HEAD, a worktree).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { checkedOutCommit } from '../../core/version.ts';
import { startGateway } from '../helpers/gateway.ts';
import { holdUntilExit } from '../helpers/leftovers.ts';
import { moat } from './moat-cli.ts';

const run = promisify(execFile);
const REPO = path.resolve(import.meta.dirname, '..', '..');
const VERSION = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

/** What git itself says is checked out here. */
async function gitHead(): Promise<string> {
  return (await run('git', ['rev-parse', 'HEAD'], { cwd: REPO })).stdout.trim();
}

describe('moat --version', function () {
  this.timeout(60_000);

  it('prints the package version and the commit of this checkout, as git names it', async () => {
    const head = await gitHead();
    const expected = `mailmoat ${VERSION} (commit ${head.slice(0, 7)})\n`;
    for (const args of [['--version'], ['version']]) {
      const r = await moat(args);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, expected);
      assert.equal(r.stderr, '');
    }
  });

  it('prints the version alone from a copy of the tree without .git', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-version-'));
    const end = holdUntilExit({ dir });
    try {
      for (const part of ['core', 'scripts', 'plugins', 'package.json']) cpSync(path.join(REPO, part), path.join(dir, part), { recursive: true });
      symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
      const { stdout, stderr } = await run(process.execPath, [path.join(dir, 'scripts', 'moat.js'), '--version'], { cwd: dir });
      assert.equal(stdout, `mailmoat ${VERSION}\n`);
      assert.equal(stderr, '');
    } finally {
      end();
    }
  });

  it('refuses arguments as a usage error, and is named in the help', async () => {
    const r = await moat(['--version', 'extra']);
    assert.equal(r.code, 64);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /moat --version takes no arguments \(given: extra\)/);
    const help = await moat(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^commands: .*\bversion\b/m);
    assert.match(help.stdout, /moat --version \(or moat version\)/);
    const own = await moat(['version', '--help']);
    assert.equal(own.code, 0);
    assert.match(own.stdout, /^usage: moat version/);
  });
});

describe('the mailmoat started line', function () {
  this.timeout(60_000);

  it('names the version and the commit', async () => {
    const gw = await startGateway();
    try {
      const started = gw.logs.find((l) => l.msg === 'mailmoat started');
      assert.ok(started, 'the start line');
      assert.equal(started.version, VERSION);
      assert.equal(started.commit, (await gitHead()).slice(0, 7));
    } finally {
      await gw.stop();
    }
  });
});

describe('the commit read from .git', () => {
  let dir: string;
  let end: () => void;
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-gitdir-')); end = holdUntilExit({ dir }); });
  afterEach(() => end());

  function write(file: string, text: string): void {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  }

  it('follows the branch to its loose ref file, before packed-refs', () => {
    write('.git/HEAD', 'ref: refs/heads/main\n');
    write('.git/refs/heads/main', `${A}\n`);
    write('.git/packed-refs', `# pack-refs with: peeled fully-peeled sorted\n${B} refs/heads/main\n`);
    assert.equal(checkedOutCommit(dir), A);
  });

  it('finds a branch that git packed, passing over peeled tag lines', () => {
    write('.git/HEAD', 'ref: refs/heads/release/1.0\n');
    write('.git/packed-refs', `# pack-refs with: peeled fully-peeled sorted\n${B} refs/heads/main\n${A} refs/heads/release/1.0\n^${B}\n`);
    assert.equal(checkedOutCommit(dir), A);
  });

  it('takes a detached HEAD as it stands', () => {
    write('.git/HEAD', `${B}\n`);
    assert.equal(checkedOutCommit(dir), B);
  });

  it('follows a .git file to a worktree, whose branches are in the common folder', () => {
    write('.git', 'gitdir: main-repo/.git/worktrees/side\n');
    write('main-repo/.git/worktrees/side/HEAD', 'ref: refs/heads/side\n');
    write('main-repo/.git/worktrees/side/commondir', '../..\n');
    write('main-repo/.git/refs/heads/side', `${A}\n`);
    assert.equal(checkedOutCommit(dir), A);
  });

  it('gives nothing outside a checkout, on a branch with no commit yet, or for a ref that is no hash', () => {
    assert.equal(checkedOutCommit(dir), undefined);
    write('.git/HEAD', 'ref: refs/heads/main\n');
    assert.equal(checkedOutCommit(dir), undefined);
    write('.git/refs/heads/main', 'not a hash\n');
    assert.equal(checkedOutCommit(dir), undefined);
    write('.git/HEAD', 'ref: refs/heads/../../../etc/passwd\n');
    assert.equal(checkedOutCommit(dir), undefined);
  });
});
