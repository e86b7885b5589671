// Random access to an attachment's decoded bytes, whole or in part. The parsed view keeps an attachment's content
// only within its budget; of a larger one the archive reader gets the start and the end, which is where a ZIP's
// signature and its central directory are.

export interface ByteSource {
  /** Size of the whole file, whether or not all of it can be read. */
  readonly size: number;
  /**
   * The bytes from `offset` on, at most `length` of them: fewer when the file ends or the part of it that was kept
   * ends sooner; undefined when the byte at `offset` was not kept (or is past the end).
   */
  readUpTo(offset: number, length: number): Buffer | undefined;
}

/** Exactly `length` bytes from `offset`, or undefined when they are not all there. */
export function readExactly(src: ByteSource, offset: number, length: number): Buffer | undefined {
  const b = src.readUpTo(offset, length);
  return b && b.length === length ? b : undefined;
}

/** Every byte of the file. */
export function wholeSource(content: Buffer): ByteSource {
  return {
    size: content.length,
    readUpTo: (offset, length) => (offset >= 0 && offset < content.length ? content.subarray(offset, Math.min(content.length, offset + length)) : undefined),
  };
}

/**
 * A file of `size` bytes of which the first `head.length` and the last `tail.length` were kept; when the two meet or
 * overlap, that is the whole file.
 */
export function windowSource(size: number, head: Buffer, tail: Buffer): ByteSource {
  const tailStart = size - tail.length;
  if (head.length >= tailStart) return wholeSource(Buffer.concat([head.subarray(0, Math.max(0, tailStart)), tail]));
  return {
    size,
    readUpTo(offset, length) {
      if (offset >= 0 && offset < head.length) return head.subarray(offset, Math.min(head.length, offset + length));
      if (offset >= tailStart && offset < size) return tail.subarray(offset - tailStart, Math.min(tail.length, offset - tailStart + length));
      return undefined;
    },
  };
}

/** The bytes `start` to `start + size` of `outer`, as a file of their own (an archive stored in an archive). */
export function sliceSource(outer: ByteSource, start: number, size: number): ByteSource {
  return {
    size,
    readUpTo: (offset, length) => (offset >= 0 && offset < size ? outer.readUpTo(start + offset, Math.min(length, size - offset)) : undefined),
  };
}
