// Checks what a script returned: a shape the gateway can act on, or a script error that names what is wrong.
import { FIELD_NAME } from '../../core/index.ts';
import { RESULT_LIMITS as L, type ScriptActionType } from './api.ts';
import { oneLineText } from './result-cuts.ts';

export interface CheckedAction {
  type: ScriptActionType;
  text: string;
  code: number;
  enhanced: string;
}

export interface CheckedResult {
  findings: Array<{ symbol: string; score: number; detail?: string }>;
  addHeaders: Array<{ name: string; value: string }>;
  removeHeaders: string[];
  action?: CheckedAction;
}

export type ResultCheck = { ok: true; result: CheckedResult } | { ok: false; error: string };

const KEYS = new Set(['findings', 'addHeaders', 'removeHeaders', 'action']);
const SYMBOL = /^[A-Za-z0-9_]{1,64}$/;
/** Header values go to servers that may not take 8-bit headers: printable ASCII and tab (RFC 2047 words for more). */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;
/** The gateway's own fields: relays behind it trust them, so no script writes or hides them. */
const GATEWAY_HEADER = /^x-mailmoat-/i;

/** Per action: the reply codes a script may pick (the first is the default), the enhanced code and default text. */
const ACTIONS: Record<ScriptActionType, { codes: number[]; enhanced: string; text: string }> = {
  reject: { codes: [550, 552, 554], enhanced: '5.7.1', text: 'Message refused by a content filter' },
  tempfail: { codes: [451, 450, 452], enhanced: '4.7.1', text: 'Message deferred by a content filter, try again later' },
  quarantine: { codes: [], enhanced: '', text: 'held by a filter script' },
  discard: { codes: [], enhanced: '', text: 'discarded by a filter script' },
};

class ShapeError extends Error {}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function list(v: unknown, what: string, max: number): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new ShapeError(`${what} must be a list`);
  if (v.length > max) throw new ShapeError(`${what} has ${v.length} entries; at most ${max}`);
  return v;
}

/** One line of printable ASCII for a reply or a detail (result-cuts.ts), or a ShapeError for what is not text. */
function oneLine(v: unknown, what: string, max: number): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ShapeError(`${what} must be a string`);
  return oneLineText(v, max);
}

function headerName(v: unknown, what: string): string {
  if (typeof v !== 'string' || !FIELD_NAME.test(v) || v.length > L.headerName) throw new ShapeError(`${what} must be a header name (printable ASCII without ':' or spaces, at most ${L.headerName} characters)`);
  if (GATEWAY_HEADER.test(v)) throw new ShapeError(`${what} ${v}: X-Mailmoat-* fields are the gateway's own`);
  return v;
}

function finding(v: unknown, i: number): CheckedResult['findings'][number] {
  const at = `findings[${i}]`;
  if (!isPlainObject(v)) throw new ShapeError(`${at} must be an object { symbol, score, detail }`);
  if (typeof v.symbol !== 'string' || !SYMBOL.test(v.symbol)) throw new ShapeError(`${at}.symbol must be letters, digits and _ (at most 64)`);
  if (typeof v.score !== 'number' || !Number.isFinite(v.score) || Math.abs(v.score) > L.maxScore) throw new ShapeError(`${at}.score must be a number between -${L.maxScore} and ${L.maxScore}`);
  const upper = v.symbol.toUpperCase();
  const symbol = upper.startsWith('SCRIPT_') ? upper : `SCRIPT_${upper}`;
  const detail = oneLine(v.detail, `${at}.detail`, L.detail);
  return detail ? { symbol, score: v.score, detail } : { symbol, score: v.score };
}

function header(v: unknown, i: number): { name: string; value: string } {
  const at = `addHeaders[${i}]`;
  if (!isPlainObject(v)) throw new ShapeError(`${at} must be an object { name, value }`);
  const name = headerName(v.name, `${at}.name`);
  if (typeof v.value !== 'string' || !HEADER_VALUE.test(v.value) || v.value.length > L.headerValue) {
    throw new ShapeError(`${at}.value must be one line of printable ASCII of at most ${L.headerValue} characters`);
  }
  return { name, value: v.value };
}

function action(v: unknown): CheckedAction | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isPlainObject(v)) throw new ShapeError('action must be an object { type, text, code }');
  const type = v.type as ScriptActionType;
  const rule = typeof type === 'string' ? ACTIONS[type] : undefined;
  if (!rule || !Object.hasOwn(ACTIONS, type)) throw new ShapeError(`action.type must be one of ${Object.keys(ACTIONS).join(', ')}`);
  if (v.code !== undefined && !rule.codes.includes(v.code as number)) {
    throw new ShapeError(rule.codes.length ? `action.code of ${type} must be one of ${rule.codes.join(', ')}` : `action.code is not used with ${type}`);
  }
  const code = (v.code as number | undefined) ?? rule.codes[0] ?? 250;
  return { type, code, enhanced: rule.enhanced, text: oneLine(v.text, 'action.text', L.text) || rule.text };
}

/** Checks a script's return value (already plain data: it came through JSON). */
export function checkResult(value: unknown): ResultCheck {
  if (value === null || value === undefined) return { ok: true, result: { findings: [], addHeaders: [], removeHeaders: [] } };
  try {
    if (!isPlainObject(value)) throw new ShapeError(`the script returned ${Array.isArray(value) ? 'a list' : typeof value}; expected an object { findings, addHeaders, removeHeaders, action } or nothing`);
    const unknown = Object.keys(value).filter((k) => !KEYS.has(k));
    if (unknown.length) throw new ShapeError(`unknown key ${unknown.map((k) => JSON.stringify(k)).join(', ')} (known: ${[...KEYS].join(', ')})`);
    return {
      ok: true,
      result: {
        findings: list(value.findings, 'findings', L.findings).map(finding),
        addHeaders: list(value.addHeaders, 'addHeaders', L.headers).map(header),
        removeHeaders: list(value.removeHeaders, 'removeHeaders', L.headers).map((n, i) => headerName(n, `removeHeaders[${i}]`)),
        action: action(value.action),
      },
    };
  } catch (e) {
    if (e instanceof ShapeError) return { ok: false, error: `bad result: ${e.message}` };
    throw e;
  }
}
