// Quoted-printable bodies decoded byte by byte into a Buffer: a body of 24 MB decoded through string replacements (a
// callback and a one-character string per `=XX`) held the event loop for most of a second, half of it in garbage
// collection.

const EQ = 0x3d, CR = 0x0d, LF = 0x0a, SP = 0x20, TAB = 0x09;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
}

/**
 * The bytes a quoted-printable body (bytes as a latin1 string) stands for: `=XX` (either case) is the byte, `=` with
 * nothing but spaces or tabs before the line break, or before the end of the body (whose last line break is the
 * delimiter's), is a soft line break (RFC 2045 §6.7 (3), (5)), as mailparser reads it; any other `=` is kept as written.
 */
export function decodeQuotedPrintableBody(body: string): Buffer {
  const src = Buffer.from(body, 'latin1');
  const out = Buffer.allocUnsafe(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c !== EQ) { out[n++] = c; continue; }
    const hi = i + 2 < src.length ? hexValue(src[i + 1]) : -1;
    const lo = hi >= 0 ? hexValue(src[i + 2]) : -1;
    if (lo >= 0) { out[n++] = (hi << 4) | lo; i += 2; continue; }
    let j = i + 1;
    while (j < src.length && (src[j] === SP || src[j] === TAB)) j++;
    if (j < src.length && src[j] === CR && src[j + 1] === LF) { i = j + 1; continue; }
    if (j < src.length && src[j] === LF) { i = j; continue; }
    // `=` at the very end of the body: the soft break's line break was the delimiter's.
    if (j >= src.length) { i = j; continue; }
    out[n++] = c;
  }
  return out.subarray(0, n);
}
