// Length-prefixed JSON frames on the pipe between the gateway and a sandbox child.
//
// Node's own IPC channel buffers whatever length a message claims before anyone can look at it, so a child that got
// past vm2 could make the gateway hold gigabytes. Here the reader knows its limit from the 4-byte length alone and
// refuses a frame before buffering it.

export class FrameError extends Error {}

export function encodeFrame(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

export class FrameReader {
  private readonly maxBytes: number;
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** Takes the bytes that arrived and returns the frames they complete; throws FrameError on a frame over the limit or not JSON. */
  push(chunk: Buffer): unknown[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: unknown[] = [];
    for (;;) {
      if (this.buffered < 4) break;
      if (this.chunks[0].length < 4) this.chunks = [Buffer.concat(this.chunks)];
      const size = this.chunks[0].readUInt32BE(0);
      if (size > this.maxBytes) throw new FrameError(`a frame of ${size} bytes; at most ${this.maxBytes}`);
      // Joined only once the whole frame is here, so a large snapshot arriving in many chunks is copied once.
      if (this.buffered < 4 + size) break;
      const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
      const body = all.subarray(4, 4 + size).toString('utf8');
      const rest = all.subarray(4 + size);
      this.chunks = rest.length ? [rest] : [];
      this.buffered = rest.length;
      try { out.push(JSON.parse(body)); } catch { throw new FrameError('a frame that is not JSON'); }
    }
    return out;
  }
}
