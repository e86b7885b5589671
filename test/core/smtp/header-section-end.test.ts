// The empty line put in where a header section runs into the body (pure chunk logic): the same bytes out whatever
// the chunking, and a well-formed message untouched.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HeaderSectionEnd } from '../../../core/smtp/header-section-end.ts';
import { spoolData } from '../../../core/message/spool-writer.ts';

async function through(chunks: string[]): Promise<string> {
  const out: Buffer[] = [];
  const step = new HeaderSectionEnd();
  for (const c of chunks) step.take(Buffer.from(c, 'latin1'), (b) => out.push(b));
  step.end((b) => out.push(b));
  return Buffer.concat(out).toString('latin1');
}

/** Every way of cutting `text` in two, and one byte at a time. */
function chunkings(text: string): string[][] {
  const all: string[][] = [[text], text.split('')];
  for (let i = 1; i < text.length; i++) all.push([text.slice(0, i), text.slice(i)]);
  return all;
}

const CASES: Array<[string, string, string]> = [
  ['no header fields at all', 'just text without headers\r\nsecond line\r\n', '\r\njust text without headers\r\nsecond line\r\n'],
  ['fields then body text', 'Subject: x\r\nFrom: a@b.example\r\nbody text\r\n', 'Subject: x\r\nFrom: a@b.example\r\n\r\nbody text\r\n'],
  ['a folded field then body text', 'Subject: x\r\n  folded\r\nbody\r\n', 'Subject: x\r\n  folded\r\n\r\nbody\r\n'],
  // The relay drops a folded line that opens the message (it would fold into our last field): it stays a field line.
  ['a folded line before any field', ' indented first\r\nSubject: y\r\n\r\n', ' indented first\r\nSubject: y\r\n\r\n'],
  ['a name whose colon is on the folded line below', 'X-Name\r\n : value\r\nX-Other \r\n\t: v\r\nbody\r\n', 'X-Name\r\n : value\r\nX-Other \r\n\t: v\r\n\r\nbody\r\n'],
  ['a lone word then a folded line without a colon', 'Hello\r\n  there\r\n', '\r\nHello\r\n  there\r\n'],
  ['a lone word then text', 'Subject: s\r\nWord\r\nmore\r\n', 'Subject: s\r\n\r\nWord\r\nmore\r\n'],
  ['a line with a colon but a space in its name', 'Note this: not a field\r\n', '\r\nNote this: not a field\r\n'],
  ['an mbox From line', 'From someone Mon Jan 1\r\nSubject: z\r\n\r\nb\r\n', '\r\nFrom someone Mon Jan 1\r\nSubject: z\r\n\r\nb\r\n'],
  ['a well-formed message', 'Subject: x\r\nX-Odd : spaced\r\n\r\nbody\r\nNot: a field any more\r\n', 'Subject: x\r\nX-Odd : spaced\r\n\r\nbody\r\nNot: a field any more\r\n'],
  ['an empty header section', '\r\nbody only\r\n', '\r\nbody only\r\n'],
  ['fields and no body', 'Subject: x\r\n', 'Subject: x\r\n'],
  ['bare LF line ends', 'Subject: x\nbody\n', 'Subject: x\n\r\nbody\n'],
];

describe('the empty line after the header section', () => {
  for (const [name, input, expected] of CASES) {
    it(`${name}: the same output for every chunking`, async () => {
      for (const chunks of chunkings(input)) assert.equal(await through(chunks), expected, JSON.stringify(chunks));
    });
  }

  it('passes an error of its source on as the same object, in the spool it is a step of', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mm-header-end-'));
    try {
      const source = new Readable({ read() {} });
      const err = Object.assign(new Error('gone'), { code: 'ECONNECTION' });
      const seen = spoolData(source, path.join(dir, 'm.eml'), { maxSize: 1024, rewriteBareLineEnds: true, afterLineEnds: new HeaderSectionEnd() }).then(() => undefined, (e: unknown) => e);
      source.destroy(err);
      assert.equal(await seen, err);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});
