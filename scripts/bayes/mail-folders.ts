// Reads messages from what admins keep mail in: folders of one message per file (.eml, MailEnable .mai, or
// no extension), Maildirs (cur/ and new/), and mbox files, found by walking a folder recursively.
import fs from 'node:fs';
import path from 'node:path';

export interface MailSource {
  /** A file that holds one message, or an mbox holding several. */
  file: string;
  kind: 'message' | 'mbox';
}

export interface MailItem {
  /** The file, with `#n` appended for the n-th message of an mbox. */
  name: string;
  raw: Buffer;
}

const SKIP_NAMES = /^(\.|cyrus\.|dovecot[.-]|maildirfolder$|\.DS_Store$)/;

function looksLikeMbox(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(5);
    return fs.readSync(fd, head, 0, 5, 0) === 5 && head.toString('latin1') === 'From ';
  } finally {
    fs.closeSync(fd);
  }
}

/** Lists the message files and mboxes under `target` (a folder or a single file), in a stable order. */
export function listSources(target: string): MailSource[] {
  const out: MailSource[] = [];
  const visit = (p: string) => {
    const st = fs.statSync(p);
    if (st.isFile()) {
      if (st.size > 0) out.push({ file: p, kind: /\.(mbox|mbx)$/i.test(p) || looksLikeMbox(p) ? 'mbox' : 'message' });
      return;
    }
    if (!st.isDirectory()) return;
    const names = fs.readdirSync(p).filter((n) => !SKIP_NAMES.test(n)).sort();
    // A Maildir keeps delivered mail in cur/ and new/; tmp/ holds half-written files.
    const isMaildir = names.includes('cur') && names.includes('new');
    for (const n of names) {
      if (isMaildir && n === 'tmp') continue;
      visit(path.join(p, n));
    }
  };
  visit(target);
  return out;
}

/** Splits an mbox (mboxrd or mboxo) into messages, undoing the `>From ` quoting. */
export function splitMbox(data: Buffer): Buffer[] {
  const s = data.toString('latin1');
  const out: Buffer[] = [];
  const starts: number[] = [];
  if (s.startsWith('From ')) starts.push(0);
  const re = /\nFrom /g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) starts.push(m.index + 1);
  for (let i = 0; i < starts.length; i++) {
    const chunk = s.slice(starts[i], i + 1 < starts.length ? starts[i + 1] : s.length);
    const body = chunk.slice(chunk.indexOf('\n') + 1).replace(/^>(>*From )/gm, '$1');
    out.push(Buffer.from(body, 'latin1'));
  }
  return out;
}

/** Yields every message of the sources, reading each file once. */
export function* readMessages(sources: MailSource[]): Generator<MailItem> {
  for (const src of sources) {
    const data = fs.readFileSync(src.file);
    if (src.kind === 'message') { yield { name: src.file, raw: data }; continue; }
    let n = 0;
    for (const raw of splitMbox(data)) yield { name: `${src.file}#${++n}`, raw };
  }
}
