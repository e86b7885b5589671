// Removing delimited spans (comments, tags, bracketed parts) from untrusted text in one forward pass.
//
// The regex for this, /open[\s\S]*?close/g, restarts at every opener of a long run that never closes and rescans
// to the end each time, so its time grows with the square of the text: seconds for a header or HTML part of tens
// of kilobytes that an attacker controls.

/**
 * `text` with each span from `open` to the first `close` after it replaced by `replacement`; from the first `open`
 * that no `close` follows, the rest is kept as it is.
 */
export function withoutSpans(text: string, open: string, close: string, replacement: string): string {
  let out = '';
  let from = 0;
  for (;;) {
    const start = text.indexOf(open, from);
    if (start < 0) break;
    const end = text.indexOf(close, start + open.length);
    if (end < 0) break;
    out += text.slice(from, start) + replacement;
    from = end + close.length;
  }
  return out + text.slice(from);
}
