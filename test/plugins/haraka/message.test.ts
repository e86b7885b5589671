// How the spooled message reaches a Haraka transaction: line by line, dot-stuffed, through add_data.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import type { HookContext } from '../../../core/index.ts';
import type { Connection } from '../../../plugins/haraka/connection.ts';
import { feedMessage } from '../../../plugins/haraka/message.ts';

/** Feeds the chunks to a stand-in connection and returns the lines add_data received and the byte counts. */
async function feed(chunks: Buffer[]): Promise<{ lines: Buffer[]; dataBytes: number; totalbytes: number }> {
  const lines: Buffer[] = [];
  const transaction = { data_bytes: 0, add_data: (b: Buffer) => lines.push(b), end_data: (done: () => void) => done() };
  const conn = { transaction, totalbytes: 0, _paused: null } as unknown as Connection;
  const ctx = { message: { stream: () => Readable.from(chunks) } } as unknown as HookContext;
  await feedMessage(conn, ctx, false);
  return { lines, dataBytes: transaction.data_bytes, totalbytes: conn.totalbytes };
}

describe('haraka shim: feeding the message to the transaction', function () {
  this.timeout(10_000);

  it('passes each line whole however the chunks cut it, dot-stuffs, and ends an unfinished last line with CRLF', async function () {
    const chunks = ['Subject: a', '\r\n\r\n.hid', 'den\r', '\nlast'].map((s) => Buffer.from(s));
    const { lines, dataBytes, totalbytes } = await feed(chunks);
    assert.deepEqual(lines.map((l) => l.toString()), ['Subject: a\r\n', '\r\n', '..hidden\r\n', 'last\r\n']);
    assert.equal(dataBytes, 29); // counted before dot-stuffing
    assert.equal(totalbytes, 29);
  });

  it('passes a 16 MiB line that arrives in 4 KiB chunks as one dot-stuffed line', async function () {
    const chunk = Buffer.alloc(4096, 'a');
    const chunks = [Buffer.from('.'), ...Array<Buffer>(4096).fill(chunk), Buffer.from('\r\nend\r\n')];
    const { lines, dataBytes } = await feed(chunks);
    assert.equal(lines.length, 2);
    assert.ok(lines[0].equals(Buffer.concat([Buffer.from('..'), Buffer.alloc(16 * 1024 * 1024, 'a'), Buffer.from('\r\n')])));
    assert.equal(lines[1].toString(), 'end\r\n');
    assert.equal(dataBytes, 1 + 16 * 1024 * 1024 + 2 + 5);
  });
});
