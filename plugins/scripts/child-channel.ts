// The sandbox child's end of its pipe to the gateway (fd 3, framed by framing.ts).
import net from 'node:net';
import { encodeFrame, FrameReader } from './framing.ts';
import type { FromChild, ToChild } from './protocol.ts';

/** The gateway sends whole scripts and snapshots; this only guards against a broken pipe, not against the gateway. */
const MAX_INBOUND_BYTES = 1024 * 1024 * 1024;
export const CHANNEL_FD = 3;

export function openChannel(onMessage: (m: ToChild) => void): (m: FromChild) => void {
  const pipe = new net.Socket({ fd: CHANNEL_FD, readable: true, writable: true });
  const reader = new FrameReader(MAX_INBOUND_BYTES);
  pipe.on('data', (chunk: Buffer) => { for (const m of reader.push(chunk)) onMessage(m as ToChild); });
  // The gateway went away (or closed the pipe): nothing will read an answer.
  pipe.on('end', () => process.exit(0));
  pipe.on('error', () => process.exit(0));
  return (m) => { pipe.write(encodeFrame(m)); };
}
