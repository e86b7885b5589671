// `moat check`: a message and its envelope go through the running gateway's chain as a client's transaction does,
// by the front door's own steps (SessionHandler) and the message intake's, so a check never drifts from a real send.
// Everything a transaction would leave behind is swapped for a scratch part: a queue that keeps the entry it is given
// instead of writing it, a relay queue that sends nothing, counters and rate limits of its own, and every hook run
// marked as a check's (ctx.session.check) for the plugins that remember things.
//
// `user` runs the transaction as that login's, as a trusted proxy's XCLIENT LOGIN= names one: no password, since
// only the gateway's own user (or root) can reach the control socket (mode 0600 in data_dir), and a check relays
// nothing, so it opens no way to send as anyone.
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { SMTPServerAddress, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { Runtime } from '../runtime.ts';
import type { Logger, LogFields, LogLevel } from '../log/types.ts';
import type { Finding, VerdictAction } from '../verdict/types.ts';
import type { OutcomeAction } from '../hooks/outcome.ts';
import type { HookName } from '../hooks/hook-names.ts';
import type { QueueStore } from '../queue/queue-store.ts';
import type { DeliveryQueue } from '../queue/delivery-queue.ts';
import type { QueueEntry } from '../queue/entry.ts';
import type { RawConnection } from './patches.ts';
import { SessionHandler } from './session-handler.ts';
import { CheckObserver, observeCheck } from './check-observer.ts';
import { Metrics } from '../metrics.ts';
import { ConnectionLimits } from './connection-limits.ts';
import { AuthFailures } from '../auth/auth-failures.ts';
import { ClientCounting } from '../net/client-counting.ts';
import { StorageHealth } from '../queue/storage-health.ts';
import { holdChain } from '../plugin/in-use.ts';
import { crlfLineEnds } from '../message/line-normalizer.ts';
import { decideVerdict } from '../verdict/verdict.ts';
import { isOutboundSender } from '../verdict/outbound-fields.ts';
import { normalizeIp } from '../net/cidr.ts';
import { parseMime } from '../message/mime-parse.ts';
import type { Attachment } from '../message/types.ts';

export interface CheckInput {
  /** The message as a client would send it after DATA (its line ends become CRLF here). */
  message: Buffer;
  from: string;
  to: string[];
  ip: string;
  helo: string;
  /** A login to check as (outbound mail of that user), taken as given: no password. */
  user?: string;
}

/** What one step of the transaction got: the reply a client would read, and the hook outcome behind it. */
export interface CheckStep {
  hook: Extract<HookName, 'connect' | 'helo' | 'mailFrom' | 'rcptTo' | 'dataStart' | 'data'>;
  rcpt?: string;
  reply: string;
  /** The chain's outcome; `not run` when the core answered before the plugins (relay access, a blocked recipient). */
  outcome: OutcomeAction | 'not run';
  plugin?: string;
}

/** How the message's content would leave, when a plugin rewrote it (a disclaimer added, attachments taken out). */
export interface CheckRewrite {
  sentBytes: number;
  leavingBytes: number;
  /** Attachments of the message as sent that the leaving one no longer has (`outer.zip / inner.exe` when nested). */
  attachmentsRemoved: string[];
}

/** Whether the message would leave with the gateway's DKIM signature, and of which domain, or why not. */
export type CheckDkim = { signs: true; domain: string; selector: string } | { signs: false; why: string };

/** A line a plugin logged during the check (a rule matched, a disclaimer added): what it did to the message. */
export interface PluginLine { plugin: string; level: LogLevel; msg: string; fields: LogFields }

export interface CheckReport {
  envelope: { from: string; to: string[]; ip: string; helo: string; user?: string };
  steps: CheckStep[];
  findings: Finding[];
  score: number;
  /** The verdict's action, or, for a transaction refused before its message was judged, reject or tempfail. */
  action: VerdictAction;
  reason: string;
  /** The header fields the relayed message would get, in order (folded lines kept); none for a refused message. */
  headers: string[];
  /** Names of the client's header fields that would be taken out. */
  removed: string[];
  /** The fields of the log's summary line for the message (`msg: message`), when the message got that far. */
  summary?: LogFields;
  /** Present when a plugin rewrote the message. */
  rewrite?: CheckRewrite;
  dkim: CheckDkim;
  /** What the plugins logged at info and above, in order. */
  pluginLines: PluginLine[];
  /** What the check could not keep from happening, or did not do as a client's transaction would. */
  notes: string[];
}

interface KeptRecord { level: LogLevel; fields: LogFields }

/** A logger that writes through to the gateway's log and keeps every record for the report. */
class KeepingLogger implements Logger {
  private readonly base: Logger;
  private readonly fields: LogFields;
  private readonly kept: KeptRecord[];
  constructor(base: Logger, fields: LogFields, kept: KeptRecord[]) { this.base = base; this.fields = fields; this.kept = kept; }
  private keep(level: LogLevel, msg: string, f?: LogFields): void { this.kept.push({ level, fields: { ...this.fields, ...f, msg } }); }
  debug(msg: string, f?: LogFields): void { this.keep('debug', msg, f); this.base.debug(msg, f); }
  info(msg: string, f?: LogFields): void { this.keep('info', msg, f); this.base.info(msg, f); }
  warn(msg: string, f?: LogFields): void { this.keep('warn', msg, f); this.base.warn(msg, f); }
  error(msg: string, f?: LogFields): void { this.keep('error', msg, f); this.base.error(msg, f); }
  child(f: LogFields): Logger { return new KeepingLogger(this.base.child(f), { ...this.fields, ...f }, this.kept); }
}

/** The queue as the message intake sees it: the spool file goes to `dir`, and the entry it commits is only kept. */
function scratchQueue(dir: string, kept: { entry?: QueueEntry }): QueueStore {
  const eml = (id: string) => path.join(dir, `${id}.eml`);
  const keep = async (entry: QueueEntry) => { kept.entry = entry; };
  return {
    emlPath: eml,
    discard: (id: string) => rm(eml(id), { force: true }),
    remove: async () => undefined,
    commit: keep,
    commitJournaled: keep,
    commitTo: (_folder: string, entry: QueueEntry) => keep(entry),
    keepBody: () => undefined,
  } as unknown as QueueStore;
}

/** The live runtime with every part a transaction changes swapped for one that is thrown away with the check. */
function checkRuntime(live: Runtime, scratch: string, log: Logger, kept: { entry?: QueueEntry }): Runtime {
  const rt: Runtime = {
    config: live.config, policy: live.policy, plugins: live.plugins, services: { ...live.services },
    queue: scratchQueue(scratch, kept), delivery: { add: () => undefined } as unknown as DeliveryQueue,
    users: live.users, log, hostname: live.hostname, metrics: new Metrics(),
    connections: new ConnectionLimits(Date.now, new ClientCounting(() => rt)), authFailures: new AuthFailures(Date.now, new ClientCounting(() => rt)),
    storage: new StorageHealth(scratch),
  };
  return rt;
}

type Answer = { code: number; text: string };

function replyOf(err: (Error & { responseCode?: number }) | null | undefined, message?: string): Answer {
  if (!err) return { code: 250, text: message ?? 'OK' };
  const text = err.message as unknown;
  return { code: err.responseCode ?? 451, text: Array.isArray(text) ? text.join(' ') : String(text) };
}

function viaCallback(run: (cb: (err?: Error | null, message?: string) => void) => void): Promise<Answer> {
  return new Promise((resolve) => run((err, message) => resolve(replyOf(err, message))));
}

const shown = (a: Answer | { code: number; text: string | string[] }) => `${a.code} ${Array.isArray(a.text) ? a.text.join(' ') : a.text}`;

const CRLF = Buffer.from('\r\n');

/** The message as a mail client sends a file: CRLF line ends, and a last line ended too. */
function asSent(message: Buffer): Buffer {
  const body = crlfLineEnds(message);
  return body.length === 0 || body.subarray(-2).equals(CRLF) ? body : Buffer.concat([body, CRLF]);
}

/** The header fields of the queue entry's prepended block, one string per field, folds kept. */
function fieldsOf(prepend: string): string[] {
  return Buffer.from(prepend, 'latin1').toString('utf8').split(/\r\n(?![ \t])/).filter((f) => f !== '').map((f) => f.replace(/\r\n/g, '\n'));
}

/** The plugins that run Haraka plugins: what those do on a check cannot be known (they see no check flag). */
function harakaEntries(live: Runtime): string[] {
  return live.plugins.filter((p) => p.moduleName === 'haraka').map((p) => p.name);
}

function notesFor(live: Runtime, input: CheckInput): string[] {
  const notes: string[] = [];
  // A login a trusted proxy vouches for (XCLIENT LOGIN=) need not be in the users file; a typo would look the same.
  if (input.user !== undefined && !live.users.read().has(input.user)) notes.push(`user ${JSON.stringify(input.user)} is not in the users file: only a trusted proxy's XCLIENT LOGIN= could send as it`);
  const haraka = harakaEntries(live);
  if (haraka.length) notes.push(`${haraka.join(', ')}: Haraka plugins ran as for a client's message; they do not see that this is a check, so any state they keep (a Redis counter, a file) may have changed`);
  if (live.plugins.some((p) => p.moduleName === 'recipient-verify')) notes.push('recipient-verify: recipients were probed at the next hop (a read) and the answers cached, as for a client\'s message');
  return notes;
}

/** Why the input cannot be checked, or undefined. */
function checkInputProblem(input: CheckInput, maxMessageSize: number): string | undefined {
  if (!net.isIP(input.ip)) return `not an IP address: ${JSON.stringify(input.ip)}`;
  if (!input.to.length) return 'no recipient: give --to, or a message with a To header';
  if (!input.helo || /\s/.test(input.helo)) return `not a HELO name: ${JSON.stringify(input.helo)}`;
  if (input.user !== undefined && (typeof input.user !== 'string' || !/^[^\s:]{1,256}$/.test(input.user))) return `not a user name: ${JSON.stringify(input.user)} (a name of the users file: no spaces or colons)`;
  if (input.message.length > maxMessageSize) return `the message is ${input.message.length} bytes, larger than limits.max_message_size (${maxMessageSize})`;
  return undefined;
}

/** Runs `input` through the live chain of `live`, keeping nothing; the report says what a client would have got. */
export async function runCheck(live: Runtime, input: CheckInput): Promise<CheckReport> {
  const problem = checkInputProblem(input, live.config.limits.max_message_size);
  if (problem) throw new Error(problem);
  const scratch = await mkdtemp(path.join(live.config.data_dir, 'check-'));
  // One chain for the whole check: a reload meanwhile must not close the plugins between two of its commands.
  const release = holdChain(live.plugins);
  try {
    return await checkWith(live, input, scratch);
  } finally {
    release();
    await rm(scratch, { recursive: true, force: true });
  }
}

async function checkWith(live: Runtime, input: CheckInput, scratch: string): Promise<CheckReport> {
  const records: KeptRecord[] = [];
  const kept: { entry?: QueueEntry } = {};
  const rt = checkRuntime(live, scratch, new KeepingLogger(live.log.child({ check: true }), {}, records), kept);
  const observer = new CheckObserver();
  observeCheck(rt.services, observer);
  const handler = new SessionHandler(rt, 'smtp');
  const id = `check${randomBytes(6).toString('hex')}`;
  const envelope = { mailFrom: false as unknown, rcptTo: [] as SMTPServerAddress[] };
  const session = {
    id, remoteAddress: input.ip, remotePort: 0, localAddress: '127.0.0.1', localPort: 0, secure: false, envelope,
    // The greeting takes the session's login as it takes one XCLIENT gave: connect and every later hook see it.
    xClient: new Map(), user: input.user, commandLine: undefined as string | undefined,
  };
  const conn = {
    id, remoteAddress: input.ip, clientHostname: `[${input.ip}]`, secure: false, session, name: live.hostname,
    _server: { options: { useXClient: false } }, _xClient: new Map(), _originalRemoteAddress: input.ip, close: () => undefined,
  } as unknown as RawConnection;
  const smtpSession = session as unknown as SMTPServerSession;
  const steps: CheckStep[] = [];
  const step = (hook: CheckStep['hook'], answer: Answer | { code: number; text: string | string[] }, from: number, rcpt?: string) => {
    const heard = observer.heard.slice(from).find((h) => h.hook === hook);
    steps.push({ hook, ...(rcpt !== undefined ? { rcpt } : {}), reply: shown(answer), outcome: heard?.outcome.action ?? 'not run', ...(heard?.plugin ? { plugin: heard.plugin } : {}) });
    return answer.code < 400;
  };
  const mark = () => observer.heard.length;
  let stopped: { hook: string; reply: Answer | { code: number; text: string | string[] } } | undefined;
  const stop = (hook: string, reply: Answer | { code: number; text: string | string[] }) => { stopped = { hook, reply }; };

  await (async () => {
    let at = mark();
    const opened = await viaCallback((cb) => handler.onConnect(smtpSession, cb));
    if (opened.code >= 400) { step('connect', opened, at); return stop('connect', opened); }
    const greeting = await handler.onGreeting(conn);
    const greeted = greeting.kind === 'greet' ? { code: 220, text: `${live.hostname} ESMTP` } : { code: greeting.code, text: greeting.text };
    if (!step('connect', greeted, at)) return stop('connect', greeted);

    at = mark();
    const helo = await handler.onHelo(conn, input.helo, 'EHLO', `EHLO ${input.helo}`);
    const heloReply = helo ?? { code: 250, text: live.hostname };
    if (!step('helo', heloReply, at)) return stop('helo', heloReply);

    at = mark();
    session.commandLine = `MAIL FROM:<${input.from}>`;
    const sender: SMTPServerAddress = { address: input.from, args: {} } as SMTPServerAddress;
    const mail = await viaCallback((cb) => handler.onMailFrom(sender, smtpSession, cb));
    if (!step('mailFrom', mail, at)) return stop('mailFrom', mail);
    envelope.mailFrom = sender;

    let last: Answer | undefined;
    for (const to of input.to) {
      at = mark();
      session.commandLine = `RCPT TO:<${to}>`;
      const rcpt: SMTPServerAddress = { address: to, args: {} } as SMTPServerAddress;
      last = await viaCallback((cb) => handler.onRcptTo(rcpt, smtpSession, cb));
      if (step('rcptTo', last, at, to)) envelope.rcptTo.push(rcpt);
    }
    session.commandLine = undefined;
    // As smtp-server answers DATA without a recipient: the transaction ends with the last refusal.
    if (!envelope.rcptTo.length) return stop('rcptTo', last!);

    at = mark();
    const dataStart = await handler.onDataStart(conn, 'DATA');
    const started = dataStart ?? { code: 354, text: 'End data with <CR><LF>.<CR><LF>' };
    if (!step('dataStart', started, at)) return stop('dataStart', started);

    at = mark();
    const body = asSent(input.message);
    const stream = Object.assign(Readable.from([body]), { sizeExceeded: false, byteLength: body.length });
    const data = await viaCallback((cb) => handler.onData(stream as unknown as SMTPServerDataStream, smtpSession, cb));
    step('data', data, at);
    if (data.code >= 400) stop('data', data);
  })();
  // The disconnect hooks too, which free what plugins kept for the connection.
  handler.onClose(smtpSession);

  const tx = observer.tx;
  const findings = tx ? [...tx.findings] : [];
  const verdict = tx?.verdict;
  const refusedBefore = !verdict && stopped;
  const summary = records.find((r) => r.fields.msg === 'message')?.fields;
  return {
    envelope: { from: input.from, to: input.to, ip: input.ip, helo: input.helo, ...(input.user !== undefined ? { user: input.user } : {}) },
    steps,
    findings,
    score: verdict?.score ?? decideVerdict(findings, live.config.scores).score,
    action: verdict?.action ?? (refusedBefore && stopped!.reply.code >= 500 ? 'reject' : refusedBefore ? 'tempfail' : 'accept'),
    reason: verdict?.reason ?? (stopped ? `${stopped.hook}: ${shown(stopped.reply)}` : 'no verdict'),
    headers: kept.entry ? fieldsOf(kept.entry.prepend ?? '') : [],
    removed: kept.entry?.remove ?? [],
    ...(summary ? { summary } : {}),
    ...(await rewriteOf(tx?.message, input.message)),
    dkim: dkimOf(live, input, summary, !!kept.entry),
    pluginLines: pluginLinesOf(records),
    notes: notesFor(live, input),
  };
}

/** The file names of `attachments`, nested ones with the messages they are in. */
function attachmentNames(attachments: readonly Attachment[]): string[] {
  return attachments.map((a) => [...(a.within ?? []), a.filename ?? a.declaredType].join(' / '));
}

/** How the message leaves compared with how it was sent: undefined when no plugin changed its bytes. */
async function rewriteOf(leaving: { raw(): Promise<Buffer>; parsed(): Promise<{ attachments: Attachment[] }> } | undefined, message: Buffer): Promise<{ rewrite?: CheckRewrite }> {
  if (!leaving) return {};
  const sent = asSent(message);
  // A large refused message's spool file is gone by now: there is nothing left to compare, and nothing leaves.
  const left = await leaving.raw().catch(() => undefined);
  if (!left || left.equals(sent)) return {};
  const before = attachmentNames((await parseMime(Readable.from([sent]), async () => sent, sent.length)).attachments);
  const after = attachmentNames((await leaving.parsed()).attachments);
  // By count, so that of two files of one name the one taken out shows.
  const removed = before.filter((name) => {
    const i = after.indexOf(name);
    if (i < 0) return true;
    after.splice(i, 1);
    return false;
  });
  return { rewrite: { sentBytes: sent.length, leavingBytes: left.length, attachmentsRemoved: removed } };
}

/** The signature the message would get, as the summary line names it, or why it gets none. */
function dkimOf(live: Runtime, input: CheckInput, summary: LogFields | undefined, queued: boolean): CheckDkim {
  const planned = typeof summary?.dkim === 'string' ? summary.dkim : undefined;
  if (planned) {
    const slash = planned.lastIndexOf('/');
    return { signs: true, domain: planned.slice(0, slash), selector: planned.slice(slash + 1) };
  }
  const cfg = live.config.dkim;
  if (!cfg || !Object.keys(cfg.domains).length) return { signs: false, why: 'the config has no dkim.domains' };
  if (!queued) return { signs: false, why: 'the message would not be accepted' };
  const client = { user: input.user, relayNetwork: live.policy.relay.has(normalizeIp(input.ip)) };
  if (!isOutboundSender(client, cfg.sign_for)) {
    return { signs: false, why: `the client is not one dkim.sign_for names (${cfg.sign_for.join(', ') || 'none'}): check with --user NAME, or an --ip in relay.networks` };
  }
  // The reason the message's line gives, so that the check says what the gateway decided.
  if (typeof summary?.dkim_not_signed === 'string') return { signs: false, why: summary.dkim_not_signed };
  return { signs: false, why: 'its From author is not at a signing domain (dkim.domains), or it has no single From' };
}

/** The lines that name a plugin: its own (ctx.log names it) and the core's about what it did (a recipient it dropped). */
function pluginLinesOf(records: readonly KeptRecord[]): PluginLine[] {
  const lines: PluginLine[] = [];
  for (const { level, fields } of records) {
    if (level === 'debug' || typeof fields.plugin !== 'string') continue;
    const { plugin, msg, check: _check, cid: _cid, qid: _qid, ...rest } = fields;
    lines.push({ plugin: plugin as string, level, msg: String(msg), fields: rest });
  }
  return lines;
}
