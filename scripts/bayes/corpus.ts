// Loads the shared spam/ham corpus and splits it into training and test parts by a hash of each file name,
// so every run (and bogofilter beside us) sees the same split.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

/** The shared corpus beside the project (`../shared/corpus`), where the eval, cross-validation and default dictionary read. */
export const DEFAULT_CORPUS = fileURLToPath(new URL('../../../shared/corpus', import.meta.url));

export interface CorpusMessage {
  set: string;
  name: string;
  file: string;
  spam: boolean;
  raw: Buffer;
}

export interface Split { train: CorpusMessage[]; test: CorpusMessage[] }

/** True for the part used to train: `trainPercent` of the files, chosen by the SHA-1 of `set/name`. */
export function inTraining(set: string, name: string, trainPercent: number): boolean {
  const h = createHash('sha1').update(`${set}/${name}`).digest();
  return h.readUInt16BE(0) % 100 < trainPercent;
}

export function loadCorpus(root: string): CorpusMessage[] {
  const out: CorpusMessage[] = [];
  for (const set of fs.readdirSync(root).sort()) {
    const dir = path.join(root, set);
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const cls of ['ham', 'spam']) {
      const cdir = path.join(dir, cls);
      if (!fs.existsSync(cdir)) continue;
      for (const name of fs.readdirSync(cdir).sort()) {
        const file = path.join(cdir, name);
        out.push({ set, name, file, spam: cls === 'spam', raw: fs.readFileSync(file) });
      }
    }
  }
  return out;
}

export function splitCorpus(all: CorpusMessage[], trainPercent: number): Split {
  const split: Split = { train: [], test: [] };
  for (const m of all) (inTraining(m.set, m.name, trainPercent) ? split.train : split.test).push(m);
  return split;
}

/** Removes every `X-Spam-*` header field (with its folded lines) from the header section. */
export function stripSpamHeaders(raw: Buffer): Buffer {
  const s = raw.toString('latin1');
  const m = /\r?\n\r?\n/.exec(s);
  const end = m ? m.index : s.length;
  const head = s.slice(0, end);
  if (!/^x-spam-/im.test(head)) return raw;
  const kept: string[] = [];
  let dropping = false;
  for (const line of head.split('\n')) {
    if (/^[ \t]/.test(line)) { if (!dropping) kept.push(line); continue; }
    dropping = /^x-spam-/i.test(line);
    if (!dropping) kept.push(line);
  }
  return Buffer.from(kept.join('\n') + s.slice(end), 'latin1');
}
