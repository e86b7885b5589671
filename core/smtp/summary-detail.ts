// A finding's detail as the summary log line carries it: bounded in size, and still well-formed when cut.

/** Most characters a detail keeps on the summary line, the mark of a cut included. */
export const SUMMARY_DETAIL_MAX = 160;

const CUT = '…';

/**
 * The detail cut to at most `max` characters. A cut is marked with `…`, never splits a surrogate pair, and closes a
 * quoted value it went into (`problem="no answer from …"`), so the line can still be read back as `key=value` pairs.
 */
export function summaryDetail(detail: string, max = SUMMARY_DETAIL_MAX): string {
  if (detail.length <= max) return detail;
  let kept = keepWhole(detail, max - CUT.length);
  if (!insideQuotes(kept)) return kept + CUT;
  kept = keepWhole(kept, max - CUT.length - 1);
  return insideQuotes(kept) ? `${kept}${CUT}"` : kept + CUT;
}

/** The first `n` characters, one fewer when the last would be half of a surrogate pair. */
function keepWhole(text: string, n: number): string {
  const last = text.charCodeAt(n - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? n - 1 : n);
}

/** Whether the text ends inside a double-quoted value (an odd number of quotes, none of them escaped). */
function insideQuotes(text: string): boolean {
  let open = false;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\' && open) i++;
    else if (text[i] === '"') open = !open;
  }
  return open;
}
