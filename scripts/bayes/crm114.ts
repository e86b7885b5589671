// CRM114 (the Debian package) on the same split, for a second established filter beside bogofilter, built on
// other ideas: its OSB classifier (orthogonal sparse word pairs). Accuracy only: CRM114 learns and classifies one
// message per process, so its time is mostly process start-up and says nothing about its classifier.
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import type { CorpusMessage } from './corpus.ts';
import type { Scored } from './metrics.ts';

const CLASSIFIER = '<osb unique microgroom>';
/** Buckets per class file: 4 million (48 MB) rather than the default 1 million, so learning 15,000 messages prunes little. */
const BUCKETS = '4000000';
const PR = /pR:\s*(-?[\d.]+(?:e[-+]?\d+)?)/;

/** pR is ten times the base-10 log of the odds that the first class (spam) is right. */
function probabilityOf(pR: number): number {
  return 1 / (1 + 10 ** (-pR / 10));
}

function classifyOne(dir: string, raw: Buffer): Promise<number> {
  const program = `-{ isolate (:s:); { classify ${CLASSIFIER} (spam.css | ham.css) (:s:) }; output /:*:s:/ }`;
  return new Promise((resolve, reject) => {
    const p = spawn('crm', [program], { cwd: dir, stdio: ['pipe', 'pipe', 'ignore'] });
    const out: Buffer[] = [];
    p.stdout.on('data', (b: Buffer) => out.push(b));
    p.on('error', reject);
    p.on('close', (code) => {
      const m = PR.exec(Buffer.concat(out).toString());
      if (code !== 0 || !m) reject(new Error(`crm classify failed (exit ${code}): ${Buffer.concat(out).toString().slice(0, 200)}`));
      else resolve(Number(m[1]));
    });
    p.stdin.on('error', () => { /* crm may stop reading early; the exit code tells */ });
    p.stdin.end(raw);
  });
}

/**
 * Learns every training message once, in corpus order (as bogofilter's registering and Mailmoat's plain pass
 * do), then classifies the test part two messages at a time (one per core).
 */
export async function runCrm114(workDir: string, train: CorpusMessage[], test: CorpusMessage[], view: (m: CorpusMessage) => Buffer): Promise<Scored[]> {
  fs.mkdirSync(workDir, { recursive: true });
  for (const m of train) {
    const css = m.spam ? 'spam.css' : 'ham.css';
    const r = spawnSync('crm', ['-s', BUCKETS, `-{ learn ${CLASSIFIER} (${css}) }`], { cwd: workDir, input: view(m), stdio: ['pipe', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`crm learn failed on ${m.set}/${m.name} (exit ${r.status}): ${r.stderr?.toString().slice(0, 200)}`);
  }
  for (const css of ['spam.css', 'ham.css']) if (!fs.existsSync(path.join(workDir, css))) throw new Error(`crm114 learned no ${css}: the training part needs both classes`);
  const results: Scored[] = new Array(test.length);
  let next = 0;
  const worker = async () => {
    while (next < test.length) {
      const i = next++;
      const pR = await classifyOne(workDir, view(test[i]));
      results[i] = { spam: test[i].spam, p: probabilityOf(pR), tie: pR };
    }
  };
  await Promise.all([worker(), worker()]);
  return results;
}
