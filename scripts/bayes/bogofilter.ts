// Trains and runs bogofilter (the Debian package) on the same split as our filter, for figures side by side.
import fs from 'node:fs';
import path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import type { CorpusMessage } from './corpus.ts';
import type { Scored } from './metrics.ts';
import { ensureCommands } from '../../test/helpers/system-packages.ts';

/**
 * Makes sure a peer filter's command is there, installing its Debian package when it is not (as root). When that
 * fails, says what to do: the installer's own error speaks of tests, and apt-get's output is not shown.
 */
export function ensurePeer(command: string, pkg: string, without: string, ensure: (needs: Record<string, string>) => void = ensureCommands): void {
  try {
    ensure({ [command]: pkg });
  } catch (e) {
    throw new Error(`${command} is missing and could not be installed (${e instanceof Error ? e.message : String(e)}); install the Debian package ${pkg} (apt-get install ${pkg}) or ${without}`);
  }
}

function run(args: string[], input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // -C: ignore /etc/bogofilter.cf, so the run uses bogofilter's built-in defaults.
    const p = spawn('bogofilter', ['-C', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (b: Buffer) => out.push(b));
    p.stderr.on('data', (b: Buffer) => err.push(b));
    p.on('error', reject);
    // Exit codes 0, 1 and 2 mean spam, ham and unsure; 3 is an error.
    p.on('close', (code) => (code !== null && code <= 2 ? resolve(Buffer.concat(out).toString()) : reject(new Error(`bogofilter ${args.join(' ')} failed (${code}): ${Buffer.concat(err).toString().slice(0, 300)}`))));
    p.stdin.end(input);
  });
}

/** An mbox of messages, `From ` lines in bodies quoted as mboxo does. */
function writeMbox(file: string, msgs: Buffer[]): void {
  const fd = fs.openSync(file, 'w');
  for (const raw of msgs) {
    fs.writeSync(fd, 'From trainer@localhost Thu Jan  1 00:00:00 2004\n');
    fs.writeSync(fd, raw.toString('latin1').replace(/\r\n/g, '\n').replace(/^(>*From )/gm, '>$1'), null, 'latin1');
    fs.writeSync(fd, '\n\n');
  }
  fs.closeSync(fd);
}

/**
 * bogofilter on one split: the training mboxes and test files are written once, so that `train` and `score`,
 * which the eval times, can each run several times (the eval interleaves them with Mailmoat's runs).
 */
export class BogofilterRun {
  private readonly dir: string;
  private readonly test: CorpusMessage[];
  private readonly spamMbox: string;
  private readonly hamMbox: string;
  private readonly names: string[];
  private db = '';
  private trained = 0;
  /** bogofilter's own spam cutoff, beside the one the eval holds both filters to. */
  readonly ownCutoff = defaultCutoff();

  constructor(workDir: string, train: CorpusMessage[], test: CorpusMessage[], view: (m: CorpusMessage) => Buffer) {
    this.dir = workDir;
    this.test = test;
    this.spamMbox = path.join(workDir, 'spam.mbox');
    this.hamMbox = path.join(workDir, 'ham.mbox');
    writeMbox(this.spamMbox, train.filter((m) => m.spam).map(view));
    writeMbox(this.hamMbox, train.filter((m) => !m.spam).map(view));
    const testDir = path.join(workDir, 'test');
    fs.mkdirSync(testDir, { recursive: true });
    this.names = test.map((m, i) => {
      const f = path.join(testDir, String(i));
      fs.writeFileSync(f, view(m));
      return f;
    });
  }

  /** Trains a new, empty database on the training mboxes; returns the seconds it took. */
  async train(): Promise<number> {
    this.db = path.join(this.dir, `db-${++this.trained}`);
    fs.mkdirSync(this.db);
    const t0 = performance.now();
    await run(['-d', this.db, '-s', '-M', '-I', this.spamMbox], '');
    await run(['-d', this.db, '-n', '-M', '-I', this.hamMbox], '');
    return (performance.now() - t0) / 1000;
  }

  /** Scores the test files against the last database trained. */
  async score(): Promise<{ results: Scored[]; seconds: number }> {
    const t0 = performance.now();
    const out = await run(['-d', this.db, '-TT', '-b'], this.names.join('\n') + '\n');
    const seconds = (performance.now() - t0) / 1000;
    const scores = readScores(out, this.names);
    return { results: this.test.map((m, i) => ({ spam: m.spam, p: scores[i] })), seconds };
  }
}

/**
 * Each file's score from `-TT -b` output (`<file> <score>` lines). A file with no score is an error, not a guess:
 * bogofilter stops at a file it cannot open and scores none after it, which a default would hide. (A message it can
 * open but finds no tokens in is scored: robx, 0.52.)
 */
export function readScores(out: string, names: string[]): number[] {
  const byFile = new Map<string, number>();
  for (const line of out.split('\n')) {
    const sp = line.lastIndexOf(' ');
    if (sp > 0) byFile.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return names.map((name) => {
    const p = byFile.get(name);
    if (p === undefined || !(p >= 0 && p <= 1)) throw new Error(`bogofilter gave ${p === undefined ? 'no score' : `the score ${p}`} for ${name} (${byFile.size} of ${names.length} files scored)`);
    return p;
  });
}

/** bogofilter's own spam_cutoff in its built-in defaults (`-C -Q`), for its figures at the cutoff it would use. */
export function defaultCutoff(): number {
  const m = /^spam_cutoff\s*=\s*([\d.]+)/m.exec(execFileSync('bogofilter', ['-C', '-Q']).toString());
  if (!m) throw new Error('bogofilter -C -Q printed no spam_cutoff');
  return Number(m[1]);
}
