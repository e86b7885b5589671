// Loads the shared spam/ham corpus and splits it into training and test parts by a hash of each file name (a copy's
// by its first copy's), so every run (and bogofilter beside us) sees the same split.
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

/** True for the part used to train: `trainPercent` of the files, chosen by the SHA-1 of `set/name` (see splitCorpus for copies). */
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

/**
 * Each message's first copy: of the files with its exact bytes, the first by `set/name` (most often itself). The
 * corpus holds copies (the same spam sent to several users, in several sets), and a copy split from its twin would be
 * tested by a filter that learned it word for word: 941 of the 9,830 test messages had one in the training part when
 * each file went its own way. So a file's side (and fold) is its first copy's, whatever order the files come in.
 */
export function firstCopies(all: CorpusMessage[]): Map<CorpusMessage, CorpusMessage> {
  const digests = all.map((m) => createHash('sha1').update(m.raw).digest('hex'));
  const first = new Map<string, CorpusMessage>();
  const key = (m: CorpusMessage) => `${m.set}/${m.name}`;
  all.forEach((m, i) => {
    const f = first.get(digests[i]);
    if (!f || key(m) < key(f)) first.set(digests[i], m);
  });
  return new Map(all.map((m, i) => [m, first.get(digests[i])!]));
}

export function splitCorpus(all: CorpusMessage[], trainPercent: number): Split {
  const split: Split = { train: [], test: [] };
  const first = firstCopies(all);
  for (const m of all) {
    const f = first.get(m)!;
    (inTraining(f.set, f.name, trainPercent) ? split.train : split.test).push(m);
  }
  return split;
}

/** Removes every `X-Spam-*` header field (with its folded lines) from the header section. */
export function stripSpamHeaders(raw: Buffer): Buffer {
  const s = raw.toString('latin1');
  // The header section runs to the end of its last line, line break included, so that each line goes with its own
  // break: a CRLF message whose last field is dropped would otherwise end its header section in CR CR LF.
  const m = /\r?\n\r?\n/.exec(s);
  const end = m ? m.index + m[0].indexOf('\n') + 1 : s.length;
  const head = s.slice(0, end);
  if (!/^x-spam-/im.test(head)) return raw;
  const kept: string[] = [];
  let dropping = false;
  for (const line of head.split(/(?<=\n)/)) {
    if (/^[ \t]/.test(line)) { if (!dropping) kept.push(line); continue; }
    dropping = /^x-spam-/i.test(line);
    if (!dropping) kept.push(line);
  }
  return Buffer.from(kept.join('') + s.slice(end), 'latin1');
}
