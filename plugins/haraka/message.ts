// The transaction's message side: Haraka's header edits recorded for Mailmoat, and the spool fed line by line.
import type { HookContext } from '../../core/index.ts';
import type { Any } from './cjs.ts';
import type { Connection } from './connection.ts';

const OPS = Symbol('haraka.headerOps');

interface HeaderOp { op: 'add' | 'remove'; name: string; value?: string }

/** Records the transaction's header edits so they can be replayed onto the relayed message. */
export function trackHeaderEdits(txn: Any): void {
  const ops: HeaderOp[] = [];
  Object.defineProperty(txn, OPS, { value: ops });
  const { add_header, add_leading_header, remove_header } = txn;
  txn.add_header = function (name: string, value: string) { ops.push({ op: 'add', name, value }); return add_header.call(this, name, value); };
  txn.add_leading_header = function (name: string, value: string) { ops.push({ op: 'add', name, value }); return add_leading_header.call(this, name, value); };
  txn.remove_header = function (name: string) { ops.push({ op: 'remove', name }); return remove_header.call(this, name); };
}

function unfold(value: string): string {
  return String(value).replace(/\r?\n[ \t]+/g, ' ').replace(/\r?\n$/, '').trim();
}

/**
 * Replays the net header edits onto Mailmoat's message: a removed name is removed and its surviving values re-added
 * (Haraka rebuilds Authentication-Results that way); added values of other names are added.
 */
export function applyHeaderEdits(txn: Any, ctx: HookContext): void {
  const ops: HeaderOp[] = txn[OPS] ?? [];
  const removed = new Set(ops.filter((o) => o.op === 'remove').map((o) => o.name.toLowerCase()));
  for (const name of removed) ctx.removeHeader(name);
  if (removed.size) {
    for (const line of txn.header.header_list as string[]) {
      const m = /^([^:\s]+):\s*([\s\S]*)$/.exec(line);
      if (m && removed.has(m[1].toLowerCase())) ctx.addHeader(m[1], unfold(m[2]));
    }
  }
  for (const o of ops) {
    if (o.op === 'add' && !removed.has(o.name.toLowerCase())) ctx.addHeader(o.name, unfold(o.value ?? ''));
  }
}

/**
 * Feeds the spooled message into the transaction as Haraka's DATA loop does: its Received line first, wire lines
 * (dot-stuffed, CRLF) through add_data, then end_data. A plugin that pauses the connection pauses the feed.
 */
export async function feedMessage(conn: Connection, ctx: HookContext, addReceived: boolean): Promise<void> {
  const txn = conn.transaction;
  if (addReceived) txn.add_data(Buffer.from(`Received: ${conn.received_line()}\r\n`));
  // A line not ended yet, kept as one piece per chunk and joined once at its end: joining at every chunk is
  // quadratic in the line's length.
  let pending: Buffer[] = [];
  const push = (line: Buffer) => {
    txn.data_bytes += line.length;
    txn.add_data(line[0] === 0x2e ? Buffer.concat([Buffer.from('.'), line]) : line);
  };
  for await (const chunk of ctx.message!.stream()) {
    // A copy the transaction owns: Haraka's body parser writes into the lines it is given (remove_final_cr turns a
    // CRLF's CR into LF in place), and a small message's chunks are the gateway's stored message itself, which the
    // queue and the relay read after this.
    const buf = Buffer.from(chunk as Buffer);
    let start = 0;
    for (let i = buf.indexOf(0x0a); i !== -1; i = buf.indexOf(0x0a, start)) {
      if (conn._paused) await conn._paused.promise;
      const end = buf.subarray(start, i + 1);
      push(pending.length ? Buffer.concat([...pending, end]) : end);
      pending = [];
      start = i + 1;
    }
    if (start < buf.length) pending.push(buf.subarray(start));
  }
  if (pending.length) push(Buffer.concat([...pending, Buffer.from('\r\n')]));
  conn.totalbytes += txn.data_bytes;
  await new Promise<void>((resolve) => txn.end_data(() => resolve()));
}

/**
 * A plugin that set a banner (`transaction.set_banner`) or a body filter (`add_body_filter`) changed the body Haraka
 * rebuilt in `message_stream`: the banner added to each text part (text/plain and text/html, inside multiparts,
 * re-encoded in the part's own transfer encoding). The spooled message gets that body under its own header section,
 * so the relayed message carries it; header edits go their own way (applyHeaderEdits). Without either, the message
 * is left byte for byte as it came.
 */
export async function applyBodyEdits(txn: Any, ctx: HookContext): Promise<boolean> {
  if (!txn.banner && !(txn.body_filters?.length > 0)) return false;
  const body = await new Promise<Buffer>((resolve, reject) => {
    try {
      txn.message_stream.get_data({ skip_headers: true }, (data: Buffer) => resolve(data));
    } catch (err) {
      reject(err);
    }
  });
  const raw = await ctx.message!.raw();
  const end = raw.indexOf('\r\n\r\n');
  const head = end === -1 ? Buffer.concat([raw, Buffer.from('\r\n')]) : raw.subarray(0, end + 2);
  await ctx.rewriteMessage(Buffer.concat([head, Buffer.from('\r\n'), body]));
  return true;
}
