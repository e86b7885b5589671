// The cuts the README promises for a script's result (a finding's detail, an action's text), and the field that makes
// a result too large. The sandbox child makes the cuts before it measures the result against its cap, so a detail
// copied from a long body is cut as documented instead of failing the call; the gateway's check (result.ts) makes the
// same cuts again, since it trusts nothing the child sends.
import { RESULT_LIMITS as L } from './api.ts';

/**
 * Text for one line of a reply or a detail: runs of anything but printable ASCII made one space (a line break could
 * end a reply early, 8-bit is not SMTP), trimmed, cut at `max`. Cutting its output again changes nothing.
 */
export function oneLineText(text: string, max: number): string {
  return text.replace(/[^\x20-\x7e]+/g, ' ').trim().slice(0, max).trimEnd();
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Cuts, in place, the strings of a parsed result that the gateway would cut anyway. Anything of another shape is left
 * as it is, for the gateway's check to name.
 */
export function cutDocumentedFields(result: unknown): void {
  if (!isPlainObject(result)) return;
  if (Array.isArray(result.findings)) {
    for (const f of result.findings) if (isPlainObject(f) && typeof f.detail === 'string') f.detail = oneLineText(f.detail, L.detail);
  }
  const action = result.action;
  if (isPlainObject(action) && typeof action.text === 'string') action.text = oneLineText(action.text, L.text);
}

/**
 * Where most of a too-large result is, as a path (`addHeaders[2].value`): from the top, into the part that holds
 * more than half of its parent's JSON, as deep as one part does. `chars` is that part's length as JSON.
 */
export function largestField(result: unknown): { path: string; chars: number } {
  let at = '';
  let value = result;
  let chars = JSON.stringify(value)?.length ?? 0;
  for (;;) {
    const entries: Array<[string, unknown]> = Array.isArray(value)
      ? value.map((v, i) => [`${at}[${i}]`, v])
      : isPlainObject(value) ? Object.entries(value).map(([k, v]) => [at ? `${at}.${k}` : k, v]) : [];
    let best: { path: string; value: unknown; chars: number } | undefined;
    for (const [path, v] of entries) {
      const n = JSON.stringify(v)?.length ?? 0;
      if (!best || n > best.chars) best = { path, value: v, chars: n };
    }
    if (!best || best.chars * 2 <= chars) return { path: at || 'the result', chars };
    ({ path: at, value, chars } = best);
  }
}
