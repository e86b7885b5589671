// The indexOf-based DATA scan against a reading of the whole session at once by RFC 5321 §4.5.2's rule (a dot that
// begins a line holding more is deleted; `\r\n.\r\n` alone ends the message): random messages cut into random chunks
// must give the same message bytes, the same end of DATA and the same pipelined commands after it.
import assert from 'node:assert/strict';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { feedDataStream } from '../../../core/smtp/data-scan.ts';

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

/**
 * The rule read over the whole session: at each line start (the session's first byte, or after any LF) a dot followed
 * by CRLF ends the message when its line began after CRLF (or at the start); a dot followed by LF, or by CRLF after a
 * bare LF, stays; any other dot is deleted. Undefined `ended` data when the session never reaches its end.
 */
function wholeSession(text: string): { data: string; ended: boolean; commands: string[] } {
  let data = '';
  let lineStart = true;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (lineStart && c === '.') {
      const afterCrLf = i === 0 || text[i - 2] === '\r';
      const next = text[i + 1], then = text[i + 2];
      if (next === '\r' && then === '\n' && afterCrLf) {
        const commands = text.slice(i + 3).split(/\r?\n/).filter((l, k, all) => k < all.length - 1 || l !== '');
        return { data, ended: true, commands };
      }
      const stays = next === '\n' || (next === '\r' && then === '\n');
      lineStart = false;
      if (!stays) continue;
    }
    data += c;
    lineStart = c === '\n';
  }
  return { data, ended: false, commands: [] };
}

describe('DATA scan (indexOf) against a reading of the whole session', () => {
  it('gives the same message, end of DATA and commands for 2,000 random sessions and chunkings', async () => {
    let ended = 0;
    for (let seed = 1; seed <= 2000; seed++) {
      const r = rng(seed);
      const session = randomSession(r);
      const chunks = chunked(session, r);
      const maxBytes = r() < 0.2 ? 10 : 0;
      const ours = await run(feedDataStream, chunks, maxBytes);
      const want = wholeSession(session);
      const where = `seed ${seed}: ${JSON.stringify(session)} in ${chunks.length} chunks`;
      assert.equal(ours.ended, want.ended, where);
      if (want.ended) {
        assert.deepEqual(ours, { data: want.data, ended: true, commands: want.commands, dataBytes: want.data.length, sizeExceeded: maxBytes > 0 && want.data.length > maxBytes }, where);
        ended++;
      } else {
        // A session that never ends leaves its last few bytes held back for a terminator that may still come.
        assert.ok(want.data.startsWith(ours.data) && want.data.length - ours.data.length <= 4, where);
        assert.deepEqual(ours.commands, [], where);
      }
    }
    // Most sessions end (a terminator after a bare LF line is content, and then DATA goes on).
    assert.ok(ended > 1000, `${ended} of 2000 sessions reached their terminator`);
  });

  it('deletes the dot of every line that begins with one and holds more (RFC 5321 §4.5.2), in any chunking', async () => {
    const session = '.first\r\nSubject: x\r\n\r\n.x\r\n..y\r\n. \r\n.\tz\r\n.\r\nQUIT\r\n';
    for (const size of [1, 2, 3, 5, 64]) {
      const chunks = [...Buffer.from(session, 'latin1')].reduce<Buffer[]>((all, b, i) => {
        if (i % size === 0) all.push(Buffer.alloc(0));
        all[all.length - 1] = Buffer.concat([all[all.length - 1], Buffer.from([b])]);
        return all;
      }, []);
      const got = await run(feedDataStream, chunks, 0);
      assert.equal(got.data, 'first\r\nSubject: x\r\n\r\nx\r\n.y\r\n \r\n\tz\r\n', `chunks of ${size}`);
      assert.deepEqual(got.commands, ['QUIT']);
    }
  });

  it('keeps a lone dot on a bare-LF line as content: it neither ends DATA nor is deleted', async () => {
    for (const framing of ['\n.\n', '\r.\n', '\n.\r\n', '\r\n.\n']) {
      const session = `Subject: x\r\n\r\na${framing}MAIL FROM:<evil@x.example>\r\n.\r\nQUIT\r\n`;
      for (const size of [1, 4, 1000]) {
        const buf = Buffer.from(session, 'latin1');
        const chunks: Buffer[] = [];
        for (let at = 0; at < buf.length; at += size) chunks.push(buf.subarray(at, at + size));
        const got = await run(feedDataStream, chunks, 0);
        assert.equal(got.data, `Subject: x\r\n\r\na${framing}MAIL FROM:<evil@x.example>\r\n`, `${JSON.stringify(framing)} in chunks of ${size}`);
        assert.deepEqual(got.commands, ['QUIT'], 'the smuggled MAIL stays in the message');
      }
    }
  });

  it('unescapes dot-stuffed lines and stops at the terminator, whatever the chunking', async () => {
    const chunks = chunked('Subject: x\r\n\r\n..leading dot\r\n...two\r\nplain\r\n.\r\nQUIT\r\n', rng(7));
    const got = await run(feedDataStream, chunks, 0);
    assert.equal(got.data, 'Subject: x\r\n\r\n.leading dot\r\n..two\r\nplain\r\n');
    assert.ok(got.ended);
    assert.deepEqual(got.commands, ['QUIT']);
  });
});
