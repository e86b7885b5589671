// What goes to a next hop that does not offer 8BITMIME: 7-bit mail as it is, 8-bit mail converted to 7-bit MIME
// (RFC 6152 §3 leaves the relay the choice of converting or bouncing; Postfix converts, and so do we). Header fields
// in UTF-8 are not converted: a message sent with SMTPUTF8 that has them is not sent to a hop without SMTPUTF8 at all
// (core/relay/smtp-relay.ts), and raw 8-bit fields of other mail go as they came (see HEADERS_AS_IS).
//
// The queue does not record whether the client declared BODY=8BITMIME, and a declaration would not prove the body
// 8-bit anyway, so the message is scanned for bytes of 0x80 and above. SIZE= stays honest by a counting pass over the
// converted stream before MAIL FROM: the server's announced limit is then checked against what it will receive, and
// the SIZE= we declare is that size. Both passes stream; they cost two extra reads of the message, paid only for
// 8-bit mail to the rare server without 8BITMIME.
import { Readable } from 'node:stream';
import { scanSevenBit, sevenBitStream, type SevenBitScan } from '../message/seven-bit.ts';

export interface Downgraded {
  /** The bytes to send (a new stream each call). */
  message: () => Readable;
  size: number;
  /** What an admin should know about this delivery, for the recorded reply. */
  note?: string;
}

const HEADERS_AS_IS = '8-bit header fields or encoded parts sent as they are: MIME cannot make them 7-bit';

/** `scanned`: the scan of `message` when the caller made one already (for its header fields), else one is made. */
export async function downgradeToSevenBit(message: () => Readable, size: number, scanned?: () => Promise<SevenBitScan>): Promise<Downgraded> {
  const scan = await (scanned ? scanned() : scanSevenBit(message()));
  if (!scan.eightBit) return { message, size };
  if (scan.plan.leaves.size === 0) return { message, size, note: HEADERS_AS_IS };
  const converted = () => Readable.from(sevenBitStream(message(), scan.plan), { objectMode: false });
  let convertedSize = 0;
  for await (const c of converted()) convertedSize += (c as Buffer).length;
  const parts = scan.plan.leaves.size;
  const note = `converted to 7-bit MIME: ${parts} part${parts === 1 ? '' : 's'}${scan.residual8bit ? `; ${HEADERS_AS_IS}` : ''}`;
  return { message: converted, size: convertedSize, note };
}
