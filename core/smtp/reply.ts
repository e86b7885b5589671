// SMTP replies: the default code and enhanced status for each phase and outcome, and errors smtp-server can send.
import type { HookName } from '../hooks/hook-names.ts';
import type { Outcome } from '../hooks/outcome.ts';

export interface Reply { code: number; text: string | string[] }

type Defaults = { reject: [number, string]; tempfail: [number, string] };

const PHASE_DEFAULTS: Partial<Record<HookName, Defaults>> = {
  connect: { reject: [554, '5.7.1'], tempfail: [421, '4.7.0'] },
  helo: { reject: [550, '5.7.1'], tempfail: [451, '4.7.1'] },
  mailFrom: { reject: [550, '5.7.1'], tempfail: [451, '4.7.1'] },
  rcptTo: { reject: [550, '5.7.1'], tempfail: [451, '4.7.1'] },
  dataStart: { reject: [554, '5.7.1'], tempfail: [451, '4.7.1'] },
  data: { reject: [550, '5.7.1'], tempfail: [451, '4.7.0'] },
  noop: { reject: [500, '5.5.1'], tempfail: [450, '4.7.1'] },
  vrfy: { reject: [550, '5.7.1'], tempfail: [450, '4.7.1'] },
  rset: { reject: [550, '5.7.1'], tempfail: [450, '4.7.1'] },
  unrecognizedCommand: { reject: [500, '5.5.2'], tempfail: [451, '4.7.1'] },
  quit: { reject: [550, '5.7.1'], tempfail: [421, '4.7.0'] },
};

const ENHANCED = /^\d\.\d{1,3}\.\d{1,3}\b/;

export function withEnhanced(enhanced: string, text: string): string {
  return ENHANCED.test(text) ? text : `${enhanced} ${text}`;
}

/** What smtp-server turns into a space on the wire (a line break would split the reply): the log shows the same. */
const CONTROL_CHARS = /[\x00-\x1f\x7f-\x9f]/g;

function replyLine(enhanced: string, line: string): string {
  return withEnhanced(enhanced, line).replace(CONTROL_CHARS, ' ');
}

/**
 * The reply for a refusing outcome (reject, tempfail, disconnect) in a phase: the outcome's code and enhanced code,
 * else the phase's. Nothing is corrected here: the chain runner has refused an outcome whose codes do not fit its
 * action (`outcomeProblem` in core/hooks/outcome.ts), so the reply logged is the reply sent. A disconnect for now is
 * answered 421, the code that tells the client the channel closes, with the enhanced code and text it gave.
 */
export function replyFor(hook: HookName, o: Outcome): Reply {
  const d = PHASE_DEFAULTS[hook] ?? PHASE_DEFAULTS.data!;
  let code: number;
  let enhanced: string;
  if (o.action === 'disconnect') {
    code = o.code !== undefined && o.code >= 500 ? o.code : 421;
    enhanced = o.enhanced ?? (code >= 500 ? '5.7.0' : '4.7.0');
  } else if (o.action === 'tempfail') {
    code = o.code ?? d.tempfail[0];
    enhanced = o.enhanced ?? d.tempfail[1];
  } else {
    code = o.code ?? d.reject[0];
    enhanced = o.enhanced ?? d.reject[1];
  }
  const raw = o.text ?? (o.action === 'tempfail' ? 'Temporary failure, please try again later' : 'Refused by policy');
  const text = Array.isArray(raw) ? raw.map((l) => replyLine(enhanced, l)) : replyLine(enhanced, raw);
  return { code, text };
}

/**
 * An Error that smtp-server turns into a reply (`responseCode`). smtp-server passes `message` on to its `send`,
 * which writes an array as a multi-line reply (`550-…` lines, then `550 …`, RFC 5321 §4.2.1): several lines stay
 * several lines, each with the enhanced code.
 */
export function smtpError(code: number, enhanced: string | undefined, text: string | string[]): Error & { responseCode: number } {
  const lines = (Array.isArray(text) ? text : [text]).map((l) => (enhanced ? withEnhanced(enhanced, l) : l));
  const err = new Error(lines.join(' ')) as Error & { responseCode: number };
  if (lines.length > 1) Object.defineProperty(err, 'message', { value: lines, writable: true, configurable: true });
  err.responseCode = code;
  return err;
}
