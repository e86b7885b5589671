// Actions: what a matching rule does. Scores become findings for the one verdict step; headers, subject tags and
// copies are asked of the core; quarantine, reject, tempfail and discard end the rules (Proxmox Mail Gateway's final
// actions).
import { addedFieldNameProblem, FIELD_NAME, type Issue } from '../../core/index.ts';
import { namedAddresses } from './action-addresses.ts';
import { partTextProblem } from './admin-text.ts';
import { compileNotify, type NotifyAction } from './notify-config.ts';

export type FinalAction =
  | { kind: 'quarantine'; text: string }
  | { kind: 'reject'; code: number; enhanced: string; text: string }
  | { kind: 'tempfail'; code: number; enhanced: string; text: string }
  | { kind: 'discard' }
  /** Delivered whatever the score (Rspamd's force_actions "no action", PMG's accept), unless a virus was found. */
  | { kind: 'accept' };

export interface RuleActions {
  score?: number;
  addHeaders: Array<[string, string]>;
  removeHeaders: string[];
  tagSubject?: string;
  /** Addresses that get a copy of the message if it is delivered (ctx.addRecipient), as written. */
  copyTo: string[];
  final?: FinalAction;
  /** Attachments to take out of the message (content-edits.ts): those the rule's attachment criteria match, or all. */
  removeAttachments?: AttachmentRemoval;
  /** A text to add to the message's text bodies (disclaimer.ts). */
  disclaimer?: Disclaimer;
  /** A notice to the admin (or the recipients) once the message's fate is known (notices.ts). */
  notify?: NotifyAction;
  stop: boolean;
  /** The action names as written, for the log line of a match. */
  names: string[];
}

export interface AttachmentRemoval { all: boolean; notice?: string }

export interface Disclaimer {
  /** For text/plain parts, lines joined with CRLF. */
  text: string;
  /** For text/html parts: the admin's HTML, or the text escaped, each line a line of its own. */
  html: string;
  position: 'end' | 'top';
}

export const ACTIONS = [
  'score', 'add_header', 'remove_header', 'tag_subject', 'copy_to', 'remove_attachments', 'disclaimer', 'notify',
  'accept', 'quarantine', 'reject', 'tempfail', 'discard', 'stop',
] as const;

const ONE_LINE = /^[^\r\n\0]*$/;

/**
 * Fields RFC 5322 §3.6 allows once in a message: a second From or Subject makes the message invalid, and Gmail refuses
 * it. An `add_header` of one of them replaces the message's own, as Proxmox Mail Gateway's "modify field" does.
 */
export const SINGLE_FIELDS: ReadonlySet<string> = new Set([
  'from', 'sender', 'reply-to', 'to', 'cc', 'bcc', 'subject', 'date', 'message-id', 'in-reply-to', 'references',
]);

/** The gateway's namespace: the verdict's fields, which the mail servers behind act on. */
const OWN_PREFIX = 'x-mailmoat-';

/** SMTP reply text is ASCII (RFC 5321 §4.2): a client without SMTPUTF8 may show 8-bit bytes as garbage or fail. */
const REPLY_TEXT = /^[\x20-\x7e]+$/;

const DEFAULTS = {
  reject: { code: 550, enhanced: '5.7.1', text: 'Message refused by policy' },
  tempfail: { code: 451, enhanced: '4.7.1', text: 'Message deferred by policy, please try again later' },
};

function reply(kind: 'reject' | 'tempfail', raw: unknown, path: string, issues: Issue[]): FinalAction {
  const def = DEFAULTS[kind];
  const cls = kind === 'reject' ? 5 : 4;
  const out = { kind, ...def };
  if (raw === null || raw === undefined) return out;
  const opts = typeof raw === 'string' ? { text: raw } : raw;
  if (typeof raw === 'string' && (raw.trim() === '' || !REPLY_TEXT.test(raw))) {
    issues.push({ path, message: 'expected one line of printable ASCII text (an SMTP reply is ASCII, RFC 5321 §4.2)' });
    return out;
  }
  if (typeof opts !== 'object' || Array.isArray(opts)) { issues.push({ path, message: 'expected a reply text, or a mapping with text, code, enhanced' }); return out; }
  for (const [k, v] of Object.entries(opts)) {
    if (k === 'text') {
      if (typeof v !== 'string' || v.trim() === '' || !REPLY_TEXT.test(v)) issues.push({ path: `${path}.text`, message: 'expected one line of printable ASCII text (an SMTP reply is ASCII, RFC 5321 §4.2)' });
      else out.text = v;
    } else if (k === 'code') {
      if (typeof v !== 'number' || !Number.isInteger(v) || Math.floor(v / 100) !== cls) issues.push({ path: `${path}.code`, message: `expected a ${cls}xx reply code${cls === 5 ? ' (a reject is permanent; use tempfail for 4xx)' : ' (a tempfail is temporary; use reject for 5xx)'}` });
      else out.code = v;
    } else if (k === 'enhanced') {
      if (typeof v !== 'string' || !new RegExp(`^${cls}\\.\\d{1,3}\\.\\d{1,3}$`).test(v)) issues.push({ path: `${path}.enhanced`, message: `expected an enhanced status code such as ${def.enhanced}` });
      else out.enhanced = v;
    } else issues.push({ path: `${path}.${k}`, message: 'is not a known key (known: text, code, enhanced)' });
  }
  return out;
}

const escapeHtml = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** `remove_attachments` bare, `: all`, or `: { all, notice }`. */
function attachmentRemoval(value: unknown, path: string, issues: Issue[]): AttachmentRemoval | undefined {
  if (value === undefined || value === null) return { all: false };
  if (value === 'all') return { all: true };
  if (typeof value !== 'object' || Array.isArray(value)) {
    issues.push({ path, message: 'expected nothing (the attachments the rule\'s criteria match), all, or a mapping with all and notice' });
    return undefined;
  }
  const out: AttachmentRemoval = { all: false };
  for (const [k, v] of Object.entries(value)) {
    if (k === 'all') {
      if (typeof v !== 'boolean') issues.push({ path: `${path}.all`, message: 'expected true or false' });
      else out.all = v;
    } else if (k === 'notice') {
      const why = partTextProblem(v);
      if (why) issues.push({ path: `${path}.notice`, message: why });
      else out.notice = (v as string).replace(/\r?\n/g, '\r\n');
    } else issues.push({ path: `${path}.${k}`, message: 'is not a known key (known: all, notice)' });
  }
  return out;
}

/** `disclaimer: TEXT` or `disclaimer: { text, html, position }`. */
function disclaimer(value: unknown, path: string, issues: Issue[]): Disclaimer | undefined {
  const opts = typeof value === 'string' ? { text: value } : value;
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    issues.push({ path, message: 'expected the text, or a mapping with text, html and position (end or top)' });
    return undefined;
  }
  const o = opts as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !['text', 'html', 'position'].includes(k));
  if (unknown.length) issues.push({ path: `${path}.${unknown[0]}`, message: 'is not a known key (known: text, html, position)' });
  // Lines end without spaces: in format=flowed text a trailing space joins a line to the next.
  const textWhy = partTextProblem(o.text);
  if (textWhy) { issues.push({ path: typeof value === 'string' ? path : `${path}.text`, message: textWhy }); return undefined; }
  const lines = (o.text as string).split(/\r?\n/).map((l) => l.trimEnd());
  const htmlWhy = o.html === undefined ? undefined : partTextProblem(o.html);
  if (htmlWhy) issues.push({ path: `${path}.html`, message: htmlWhy });
  if (o.position !== undefined && o.position !== 'end' && o.position !== 'top') issues.push({ path: `${path}.position`, message: 'expected end or top' });
  const html = typeof o.html === 'string' ? o.html.replace(/\r?\n/g, '\r\n') : `<p>${lines.map(escapeHtml).join('<br>\r\n')}</p>`;
  return { text: lines.join('\r\n'), html, position: o.position === 'top' ? 'top' : 'end' };
}

/** The `actions` list of one rule: bare names (`reject`, `discard`, `stop`) or one-key mappings (`score: 5`). */
export function compileActions(raw: unknown, path: string, issues: Issue[]): RuleActions {
  const out: RuleActions = { addHeaders: [], removeHeaders: [], copyTo: [], stop: false, names: [] };
  // A missing list is the schema's to report (`is required`); an empty one or another value is ours.
  if (raw === undefined) return out;
  if (!Array.isArray(raw) || raw.length === 0) {
    issues.push({ path, message: `a rule needs at least one action (${ACTIONS.join(', ')})` });
    return out;
  }
  for (const [i, item] of raw.entries()) {
    const p = `${path}[${i}]`;
    const entries = typeof item === 'string' ? [[item, undefined] as const]
      : typeof item === 'object' && item !== null && !Array.isArray(item) ? Object.entries(item) : [];
    if (entries.length !== 1) { issues.push({ path: p, message: `expected one action (${ACTIONS.join(', ')}), as a name or a one-key mapping` }); continue; }
    const [name, value] = entries[0];
    const ap = `${p}.${name}`;
    const setFinal = (f: FinalAction) => {
      if (out.final) issues.push({ path: ap, message: `a rule takes one of accept, quarantine, reject, tempfail, discard (this one has ${out.final.kind} already)` });
      else out.final = f;
    };
    out.names.push(name);
    switch (name) {
      case 'score':
        if (typeof value !== 'number' || !Number.isFinite(value)) issues.push({ path: ap, message: 'expected a number (negative to whitelist)' });
        else if (out.score !== undefined) issues.push({ path: ap, message: 'a rule takes one score' });
        else out.score = value;
        break;
      case 'add_header': {
        const v = value as { name?: unknown; value?: unknown } | undefined;
        // The core's own check of a field a plugin adds: a name it refuses at run time would defer every match (451).
        const nameProblem = !v || typeof v !== 'object' ? 'expected a mapping with name and value' : addedFieldNameProblem(v.name);
        if (nameProblem) issues.push({ path: `${ap}.name`, message: nameProblem });
        else if (typeof v!.name === 'string' && v!.name.toLowerCase().startsWith(OWN_PREFIX)) issues.push({ path: `${ap}.name`, message: `${v!.name} is in the gateway's own namespace (X-Mailmoat-*), which the servers behind trust as the gateway's verdict: choose another name` });
        else if (typeof v!.value !== 'string' || !ONE_LINE.test(v!.value)) issues.push({ path: `${ap}.value`, message: 'expected one line of text' });
        else if (Object.keys(v!).some((k) => k !== 'name' && k !== 'value')) issues.push({ path: ap, message: 'takes name and value only' });
        else out.addHeaders.push([v!.name as string, v!.value]);
        break;
      }
      case 'remove_header':
        if (typeof value !== 'string' || !FIELD_NAME.test(value)) issues.push({ path: ap, message: 'expected a header field name' });
        else if (value.toLowerCase().startsWith(OWN_PREFIX)) issues.push({ path: ap, message: `${value} is written by the gateway itself (its verdict), after the rules: it cannot be removed by a rule` });
        else out.removeHeaders.push(value);
        break;
      case 'tag_subject':
        if (typeof value !== 'string' || value.trim() === '' || !ONE_LINE.test(value)) issues.push({ path: ap, message: 'expected the tag, such as [SPAM]' });
        else out.tagSubject = value.trim();
        break;
      case 'copy_to':
        for (const a of namedAddresses(value, ap, issues)) if (!out.copyTo.some((x) => x.toLowerCase() === a.toLowerCase())) out.copyTo.push(a);
        break;
      case 'remove_attachments':
        if (out.removeAttachments) issues.push({ path: ap, message: 'a rule takes one remove_attachments' });
        else out.removeAttachments = attachmentRemoval(value, ap, issues);
        break;
      case 'disclaimer':
        if (out.disclaimer) issues.push({ path: ap, message: 'a rule takes one disclaimer' });
        else out.disclaimer = disclaimer(value, ap, issues);
        break;
      case 'notify':
        if (out.notify) issues.push({ path: ap, message: 'a rule takes one notify (give it a list of addresses)' });
        else out.notify = compileNotify(value, ap, issues);
        break;
      case 'quarantine':
        if (value !== undefined && value !== null && (typeof value !== 'string' || !ONE_LINE.test(value))) issues.push({ path: ap, message: 'expected nothing, or one line saying why' });
        setFinal({ kind: 'quarantine', text: typeof value === 'string' ? value : '' });
        break;
      case 'reject':
      case 'tempfail':
        setFinal(reply(name, value, ap, issues));
        break;
      case 'discard':
      case 'accept':
        if (value !== undefined && value !== null) issues.push({ path: ap, message: 'takes no value' });
        setFinal({ kind: name });
        break;
      case 'stop':
        if (value !== undefined && value !== null && value !== true) issues.push({ path: ap, message: 'takes no value' });
        out.stop = true;
        break;
      default:
        issues.push({ path: ap, message: `is not a known action (known: ${ACTIONS.join(', ')})` });
    }
  }
  // The core copies only a message it delivers; in one rule with a final action the copy could never happen.
  if (out.copyTo.length && out.final && out.final.kind !== 'accept') {
    issues.push({ path, message: `copy_to with ${out.final.kind} makes no copy: a message that is not delivered is not copied either` });
  }
  // A quarantined message keeps the edit (a release delivers it so); refused or dropped, nobody would see it.
  const edit = out.removeAttachments ? 'remove_attachments' : out.disclaimer ? 'disclaimer' : undefined;
  if (edit && out.final && ['reject', 'tempfail', 'discard'].includes(out.final.kind)) {
    issues.push({ path, message: `${edit} with ${out.final.kind} changes nothing: the message is not delivered` });
  }
  // A deferred message is judged again on its retry, and only a final answer is told: this notice would never go.
  if (out.notify && out.final?.kind === 'tempfail') {
    issues.push({ path, message: 'notify with tempfail sends nothing: a notice goes once the message is delivered, held, refused or dropped, and a deferred one is judged again on its retry' });
  }
  return out;
}
