// Removing delimited spans (comments, tags, bracketed parts) and trailing characters from untrusted text, each in
// one pass.
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

/**
 * `text` without the characters of `chars` at its end. A loop from the end rather than /[…]+$/, which tries every
 * such character of a long run inside the text and rescans the run from each (30 s for 160 KB of dots in a URL).
 */
export function withoutTrailing(text: string, chars: string): string {
  let end = text.length;
  while (end > 0 && chars.includes(text[end - 1])) end--;
  return text.slice(0, end);
}
