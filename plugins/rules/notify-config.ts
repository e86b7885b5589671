// The `notify` action as written: who gets a notice when the rule matches, and its subject and body templates. Checked
// at load, so that a typo in an address or a field name is found by `moat check-config`, not by the first match.
import type { Issue } from '../../core/index.ts';
import { namedAddresses } from './action-addresses.ts';
import { partTextProblem } from './admin-text.ts';

/** The fields a notice's templates may name, each written `{name}`. */
export const NOTICE_FIELDS = ['rule', 'qid', 'sender', 'recipients', 'subject', 'action', 'score'] as const;
export type NoticeField = (typeof NOTICE_FIELDS)[number];

/** In `to`: each recipient of the message in the gateway's `domains` gets a notice of their own. */
export const TO_RECIPIENTS = 'recipients';

export interface NotifyAction {
  /** Addresses that get one notice together (the admins). */
  to: string[];
  /** Each local recipient gets a notice of their own, naming only them. */
  toRecipients: boolean;
  subject: string;
  /** Lines joined with CRLF. */
  body: string;
}

export const DEFAULT_NOTICE_SUBJECT = 'Rule {rule} matched a message from {sender}';
export const DEFAULT_NOTICE_BODY = [
  'The mail gateway\'s rule {rule} matched a message.',
  '',
  'Queue ID:   {qid}',
  'Sender:     {sender}',
  'Recipients: {recipients}',
  'Subject:    {subject}',
  'Action:     {action}',
  'Score:      {score}',
  '',
  'The message itself is not attached. This notice was sent automatically.',
].join('\r\n');

/** A `{name}` in a template: a field when the name is one of NOTICE_FIELDS, refused at load when it is not. */
export const FIELD_REF = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

function templateProblem(v: unknown, oneLine: boolean): string | undefined {
  const why = partTextProblem(v);
  if (why) return why;
  if (oneLine && /[\r\n]/.test(v as string)) return 'expected one line';
  const unknown = [...(v as string).matchAll(FIELD_REF)].map((m) => m[1]).filter((n) => !(NOTICE_FIELDS as readonly string[]).includes(n));
  if (unknown.length) return `names an unknown field {${unknown[0]}} (known: ${NOTICE_FIELDS.map((f) => `{${f}}`).join(', ')})`;
  return undefined;
}

/** `notify: ADDRESS`, `notify: [ADDRESSES]` or `notify: { to, subject, body }`. */
export function compileNotify(value: unknown, path: string, issues: Issue[]): NotifyAction | undefined {
  const opts = typeof value === 'string' || Array.isArray(value) ? { to: value } : value;
  if (typeof opts !== 'object' || opts === null) {
    issues.push({ path, message: 'expected an address, a list of addresses, or a mapping with to, subject and body' });
    return undefined;
  }
  const o = opts as Record<string, unknown>;
  const at = (k: string) => (opts === value ? `${path}.${k}` : path);
  let ok = true;
  for (const k of Object.keys(o)) {
    if (!['to', 'subject', 'body'].includes(k)) { issues.push({ path: `${path}.${k}`, message: 'is not a known key (known: to, subject, body)' }); ok = false; }
  }
  if (o.to === undefined) { issues.push({ path: `${path}.to`, message: 'is required: the address (or list) that gets the notice' }); return undefined; }
  const before = issues.length;
  const named = namedAddresses(o.to, at('to'), issues, [TO_RECIPIENTS]);
  if (issues.length > before) ok = false;
  for (const k of ['subject', 'body'] as const) {
    if (o[k] === undefined) continue;
    const why = templateProblem(o[k], k === 'subject');
    if (why) { issues.push({ path: `${path}.${k}`, message: why }); ok = false; }
  }
  if (!ok) return undefined;
  const to = [...new Map(named.filter((a) => a !== TO_RECIPIENTS).map((a) => [a.toLowerCase(), a])).values()];
  return {
    to, toRecipients: named.includes(TO_RECIPIENTS),
    subject: typeof o.subject === 'string' ? o.subject.trim() : DEFAULT_NOTICE_SUBJECT,
    body: typeof o.body === 'string' ? o.body.replace(/\r?\n/g, '\r\n') : DEFAULT_NOTICE_BODY,
  };
}
