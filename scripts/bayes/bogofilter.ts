// Trains and runs bogofilter (the Debian package) on the same split as our filter, for figures side by side.
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import type { CorpusMessage } from './corpus.ts';
import type { Scored } from './metrics.ts';

export interface BogoRun {
  results: Scored[];
  trainSeconds: number;
  scoreSeconds: number;
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

export async function runBogofilter(workDir: string, train: CorpusMessage[], test: CorpusMessage[], view: (m: CorpusMessage) => Buffer): Promise<BogoRun> {
  const db = path.join(workDir, 'db');
  fs.mkdirSync(db, { recursive: true });
  const spamMbox = path.join(workDir, 'spam.mbox');
  const hamMbox = path.join(workDir, 'ham.mbox');
  writeMbox(spamMbox, train.filter((m) => m.spam).map(view));
  writeMbox(hamMbox, train.filter((m) => !m.spam).map(view));
  const t0 = performance.now();
  await run(['-d', db, '-s', '-M', '-I', spamMbox], '');
  await run(['-d', db, '-n', '-M', '-I', hamMbox], '');
  const trainSeconds = (performance.now() - t0) / 1000;

  const testDir = path.join(workDir, 'test');
  fs.mkdirSync(testDir, { recursive: true });
  const names = test.map((m, i) => {
    const f = path.join(testDir, String(i));
    fs.writeFileSync(f, view(m));
    return f;
  });
  const t1 = performance.now();
  const out = await run(['-d', db, '-TT', '-b'], names.join('\n') + '\n');
  const scoreSeconds = (performance.now() - t1) / 1000;
  const byFile = new Map<string, number>();
  for (const line of out.split('\n')) {
    const sp = line.lastIndexOf(' ');
    if (sp > 0) byFile.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  const results = test.map((m, i) => ({ spam: m.spam, p: byFile.get(names[i]) ?? 0.5 }));
  return { results, trainSeconds, scoreSeconds };
}
