// The indexOf-based DATA scan against smtp-server's own byte loop: the same random messages, cut into the same random
// chunks, must give the same message bytes, the same end of DATA and the same pipelined commands after it.
import assert from 'node:assert/strict';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { feedDataStream, originalFeedDataStream } from '../../../core/smtp/data-scan.ts';

type Feed = typeof feedDataStream;
interface Outcome { data: string; ended: boolean; commands: string[]; dataBytes: number; sizeExceeded: boolean }

/** A tiny deterministic generator, so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 0x1_0000_0000; };
}

const LINES = ['', '.', '..', '...', '.x', '..x', 'a.b', 'text', '.\r', ' .', '\r', '. ', 'x\n.', '.\n', 'end.'];

function randomSession(r: () => number): string {
  const lines: string[] = [];
  const n = Math.floor(r() * 12);
  for (let i = 0; i < n; i++) lines.push(LINES[Math.floor(r() * LINES.length)] + (r() < 0.1 ? '\n' : '\r\n'));
  const after = r() < 0.5 ? 'QUIT\r\n' : 'MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n';
  return lines.join('') + '.\r\n' + after;
}

function chunked(text: string, r: () => number): Buffer[] {
  const buf = Buffer.from(text, 'latin1');
  const out: Buffer[] = [];
  for (let at = 0; at < buf.length;) {
    const size = 1 + Math.floor(r() * (r() < 0.5 ? 4 : 40));
    out.push(buf.subarray(at, at + size));
    at += size;
  }
  return out;
}

async function run(feed: Feed, chunks: Buffer[], maxBytes: number): Promise<Outcome> {
  const parser = new SMTPStream() as unknown as SMTPStream & { _feedDataStream: Feed; dataBytes: number };
  parser._feedDataStream = feed;
  const commands: string[] = [];
  let data = '';
  const stream = parser.startDataMode(maxBytes) as unknown as NodeJS.ReadableStream & { sizeExceeded: boolean };
  let ended = false;
  (parser as unknown as { oncommand: (c: Buffer, cb: () => void) => void }).oncommand = (c, cb) => { commands.push(c.toString('latin1')); cb?.(); };
  stream.on('data', (c: Buffer) => { data += c.toString('latin1'); });
  stream.on('end', () => { ended = true; parser.continue(); });
  for (const c of chunks) await new Promise<void>((resolve, reject) => parser.write(c, (e) => (e ? reject(e) : resolve())));
  await new Promise<void>((resolve) => parser.end(() => resolve()));
  await new Promise((r) => setImmediate(r));
  return { data, ended, commands, dataBytes: parser.dataBytes, sizeExceeded: stream.sizeExceeded };
}

describe('DATA scan (indexOf) against smtp-server\'s byte loop', () => {
  it('gives the same message, end of DATA and commands for 2,000 random sessions and chunkings', async () => {
    let ended = 0;
    for (let seed = 1; seed <= 2000; seed++) {
      const r = rng(seed);
      const session = randomSession(r);
      const chunks = chunked(session, r);
      const maxBytes = r() < 0.2 ? 10 : 0;
      const ours = await run(feedDataStream, chunks, maxBytes);
      const theirs = await run(originalFeedDataStream, chunks, maxBytes);
      assert.deepEqual(ours, theirs, `seed ${seed}: ${JSON.stringify(session)} in ${chunks.length} chunks`);
      if (ours.ended) ended++;
    }
    // Most sessions end (a terminator after a bare LF line is content, and then DATA goes on, in both).
    assert.ok(ended > 1000, `${ended} of 2000 sessions reached their terminator`);
  });

  it('unescapes dot-stuffed lines and stops at the terminator, whatever the chunking', async () => {
    const chunks = chunked('Subject: x\r\n\r\n..leading dot\r\n...two\r\nplain\r\n.\r\nQUIT\r\n', rng(7));
    const got = await run(feedDataStream, chunks, 0);
    assert.equal(got.data, 'Subject: x\r\n\r\n.leading dot\r\n..two\r\nplain\r\n');
    assert.ok(got.ended);
    assert.deepEqual(got.commands, ['QUIT']);
  });
});
