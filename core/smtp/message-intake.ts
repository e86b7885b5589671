// DATA to decision: spool the message, run the data hooks, take the verdict, and commit it durably before 250.
import type { SMTPServerDataStream } from 'smtp-server';
import { SHUTTING_DOWN } from './session-shutdown.ts';
import { randomBytes } from 'node:crypto';
import { isBlockedRecipient, type Runtime } from '../runtime.ts';
import type { SessionState, Transaction } from '../hooks/transaction.ts';
import { runHook, type CopyPolicy } from '../hooks/runner.ts';
import { spoolData } from '../message/spool-writer.ts';
import { SpooledMessage } from '../message/spooled-message.ts';
import { formatHeader, mailDate, ownFieldsToRemove, taggedSubject } from '../message/header-block.ts';
import { decideVerdict, judgedSpam, verdictHeaders } from '../verdict/verdict.ts';
import { withRecipientThresholds } from './recipient-thresholds.ts';
import { leavesWithoutOwnFields, withoutOwnFields } from '../verdict/outbound-fields.ts';
import { scoreReply } from '../verdict/reply-text.ts';
import { UPSTREAM_SPAM_FIELDS } from '../verdict/spam-fields.ts';
import { decidingPlugin } from '../metrics.ts';
import type { VerdictAction } from '../verdict/types.ts';
import type { QueueEntry } from '../queue/entry.ts';
import { withoutSubjectTag } from '../quarantine/held-subject.ts';
import { messageDsnFields, recipientDsnFields } from '../queue/dsn-params.ts';
import { replyFor, type Reply } from './reply.ts';
import { chainHooks } from './command-hooks.ts';
import { holdChain } from '../plugin/in-use.ts';
import { isStorageFull } from '../queue/storage-health.ts';
import { summaryDetail } from './summary-detail.ts';
import { loggedMessageId, messageIdOfHeaderBlock } from './logged-message-id.ts';
import { HeaderSectionEnd } from './header-section-end.ts';
import { dataTimeoutReply } from './data-timeout.ts';
import { isAscii } from '../text/ascii.ts';
import { aLabelAddress, aLabelHostName } from '../text/idn-address.ts';
import { clientName, clientNameField } from './session-log-fields.ts';
import { dkimPlan, signs } from '../dkim/plan.ts';
import { senderLoginMismatch } from './sender-login.ts';
import { countHops, TOO_MANY_HOPS, tooManyHops } from './hop-count.ts';

function spoolErrorReply(err: unknown): Reply {
  return isStorageFull(err)
    ? { code: 452, text: '4.3.1 Insufficient system storage, please try again later' }
    : { code: 451, text: '4.3.0 Temporary local problem, please try again later' };
}

/**
 * The `with` protocol (RFC 3848, and RFC 6531 §3.7.3 for a transaction with SMTPUTF8): SMTP after HELO, ESMTP after
 * EHLO or UTF8SMTP, then S over TLS and A with a login.
 */
export function receivedProtocol(st: Pick<SessionState, 'heloVerb' | 'tls' | 'user'>, smtputf8: boolean): string {
  const base = smtputf8 ? 'UTF8SMTP' : st.heloVerb === 'HELO' ? 'SMTP' : 'ESMTP';
  return `${base}${st.tls ? 'S' : ''}${st.user ? 'A' : ''}`;
}

/**
 * The HELO name as the Received field shows it: the session keeps it lower-cased, but `IPv6:` is written so (RFC 5321
 * §4.1.3). Outside SMTPUTF8 the field must stay ASCII, as a next hop without 8BITMIME or SMTPUTF8 gets it: a Unicode
 * name in its A-labels, one that is no domain escaped. Under SMTPUTF8 too a name goes in A-labels when it has them:
 * a field of ours in UTF-8 would keep the message from a next hop without SMTPUTF8 (core/relay/smtp-relay.ts).
 */
function heloForReceived(helo: string | undefined, smtputf8: boolean): string {
  if (!helo) return 'unknown';
  const name = helo.replace(/^\[ipv6:/, '[IPv6:');
  if (isAscii(name)) return name;
  const ascii = aLabelHostName(name);
  return smtputf8 && !ascii ? name : asciiForReceived(name, ascii);
}

/** `text` when ASCII, else `ascii` (its A-label form) when there is one, else `text` with each byte beyond ASCII as `\xHH`. */
function asciiForReceived(text: string, ascii: string | undefined): string {
  if (isAscii(text)) return text;
  if (ascii) return ascii;
  return [...Buffer.from(text, 'utf8')].map((b) => (b < 0x80 ? String.fromCharCode(b) : `\\x${b.toString(16).toUpperCase()}`)).join('');
}

type ReceivedForAuthenticated = Runtime['config']['server']['received_for_authenticated'];

/**
 * The `from` clause: the HELO name, then the client's name and address. With `hide_client` a logged-in client is
 * `authenticated-user` alone: RFC 5321 §4.4 asks for the clause, and a user's home address and machine name are
 * nobody's business outside (Postfix sites strip them with header_checks).
 */
function receivedFrom(st: SessionState, smtputf8: boolean, forAuthenticated: ReceivedForAuthenticated): string {
  if (st.user && forAuthenticated === 'hide_client') return 'authenticated-user';
  // An IPv6 address literal is written `[IPv6:…]` (RFC 5321 §4.1.3), as Postfix writes it.
  const literal = st.remote.ip.includes(':') ? `IPv6:${st.remote.ip}` : st.remote.ip;
  // The client's name only when verified, else `unknown`, as Postfix writes it: Rspamd and SpamAssassin trust this part.
  return `${heloForReceived(st.helo, smtputf8)} (${clientName(st) ?? 'unknown'} [${literal}])`;
}

function receivedHeader(st: SessionState, tx: Transaction, forAuthenticated: ReceivedForAuthenticated): string {
  const smtputf8 = !!tx.mailFrom?.params.SMTPUTF8;
  const proto = receivedProtocol(st, smtputf8);
  const from = receivedFrom(st, smtputf8, forAuthenticated);
  // A plugin's redirect target may be beyond ASCII in a transaction without SMTPUTF8. A domain goes in A-labels under
  // SMTPUTF8 too, as the HELO name: only a local part beyond ASCII, which needs SMTPUTF8 anyway, stays UTF-8.
  const rcpt = tx.recipients.length === 1 ? tx.recipients[0].address : undefined;
  const ascii = rcpt === undefined ? undefined : aLabelAddress(rcpt);
  const forClause = rcpt === undefined ? '' : `\r\n\tfor <${smtputf8 && !ascii ? rcpt : asciiForReceived(rcpt, ascii)}>`;
  const text = `Received: from ${from}\r\n\tby ${st.greetingName} (Mailmoat) with ${proto} id ${tx.id}${forClause};\r\n\t${mailDate()}\r\n`;
  // The header lines added are held one byte per character (core/relay/outgoing-stream.ts); an SMTPUTF8 address or
  // HELO name, decoded from UTF-8 by smtp-server, goes back to its UTF-8 bytes, not to one Latin-1 byte per letter.
  return Buffer.from(text, 'utf8').toString('latin1');
}

/**
 * The reply to a message's final dot. `close`: the connection ends after it (a plugin's disconnect). `aborted`: the
 * message never came whole (the client left, the idle timeout or a stop cut it off), so the reply is no refusal of
 * it, and does not count toward limits.max_errors.
 */
export type IntakeReply = Reply & { close?: boolean; aborted?: boolean };

/** Receives the DATA stream of `tx` and returns the reply to send. Never throws for a spool problem: that is a 4xx. */
export async function receiveMessage(rt: Runtime, st: SessionState, tx: Transaction, stream: SMTPServerDataStream): Promise<IntakeReply> {
  // The config and the plugins of one generation for the whole message: a reload while it is spooled must not give
  // it the subject tag and scores of one config and the findings of the next, nor close the plugins it will run.
  const plugins = rt.plugins;
  const release = holdChain(plugins);
  try {
    return await receiveWith(rt, withRecipientThresholds(rt.config, tx), plugins, st, tx, stream);
  } finally {
    release();
  }
}

async function receiveWith(
  rt: Runtime, cfg: Runtime['config'], plugins: Runtime['plugins'], st: SessionState, tx: Transaction, stream: SMTPServerDataStream,
): Promise<IntakeReply> {
  const log = rt.log.child({ cid: st.id, qid: tx.id });
  const file = rt.queue.emlPath(tx.id);
  const started = tx.startedAt;
  const dataAt = Date.now();
  const timings: Record<string, number> = {};
  /** Bytes the client sent, for a message refused before it became one (552): how far over the limit it went. */
  let received = 0;
  /** Whether the copies plugins asked for (ctx.addRecipient) were queued with the message. */
  let copiesQueued = false;
  /** Its Message-ID, once its header section is in: the summary line carries it, so a grep for the ID finds it. */
  let messageId: string | undefined;
  const summary = (verdict: string, reply: Reply, extra: Record<string, unknown> = {}) => {
    const ms = Date.now() - started;
    const msData = Date.now() - dataAt;
    rt.metrics.inc(`messages_${verdict}`);
    // Each symbol once per message, as Rspamd counts symbol hits: viruses found (CLAM_VIRUS), scanner failures
    // (CLAM_FAIL), blocklist hits, without a plugin of its own needing a way to the metrics.
    if (verdict !== 'aborted') for (const symbol of new Set(tx.findings.map((f) => f.symbol))) rt.metrics.inc(`findings_${symbol}`);
    // The DATA time is ours to answer for: from MAIL FROM it would add the client's own pauses, and a client that hung
    // up mid-DATA measured its upload, not our reply.
    if (verdict !== 'aborted') rt.metrics.observeDataMs(msData);
    if (tx.verdict) rt.metrics.observeScore(tx.verdict.score);
    log.info('message', {
      client: st.remote.ip, ...clientNameField(st), helo: st.helo, user: st.user, tls: st.tls, from: tx.mailFrom?.address, to: tx.recipients.map((r) => r.address),
      message_id: messageId, size: tx.message?.size ?? received, verdict, score: tx.verdict?.score, symbols: tx.findings.map((f) => `${f.symbol}(${f.score})`),
      details: tx.findings.filter((f) => f.detail).map((f) => `${f.symbol}: ${summaryDetail(f.detail!)}`),
      reply: `${reply.code} ${Array.isArray(reply.text) ? reply.text.join(' ') : reply.text}`, ms, ms_data: msData, ...timings,
      // A copy goes only with a delivered message; the line says which it was, so that a missing archive copy is explained.
      ...(tx.copies.size ? { [copiesQueued ? 'copied_to' : 'copies_dropped']: [...tx.copies.values()].map((c) => c.rcpt.address) } : {}),
      ...extra,
    });
    return reply;
  };

  let spooled;
  try {
    spooled = await spoolData(stream, file, { maxSize: cfg.limits.max_message_size, maxHeaderSize: cfg.limits.max_header_size, rewriteBareLineEnds: cfg.smtp.bare_lf === 'normalize', afterLineEnds: new HeaderSectionEnd() });
  } catch (err) {
    // keep reading so the client reaches its final dot and hears our 4xx
    stream.resume();
    await rt.queue.discard(tx.id).catch(() => undefined);
    // smtp-server ends the stream with ECONNECTION when the client hangs up before its final dot: nothing of
    // ours failed, and nothing was acknowledged, so that is the client's story, not an error of the gateway.
    if ((err as { cutByStop?: boolean })?.cutByStop) return { ...summary('aborted', { code: 421, text: SHUTTING_DOWN }, { reason: 'cut off by the stop after its grace' }), aborted: true };
    // The idle timeout ends the stream the same way; the client heard its 421, and the line says so.
    const timeout = dataTimeoutReply(stream);
    if (timeout) {
      received = timeout.bytes;
      return { ...summary('aborted', { code: timeout.code, text: timeout.text }, { reason: 'timeout during DATA' }), aborted: true };
    }
    if ((err as NodeJS.ErrnoException)?.code === 'ECONNECTION') {
      // What smtp-server counted of the message before the client left (the spool kept none of it).
      received = stream.byteLength ?? 0;
      return { ...summary('aborted', { code: 451, text: '4.4.2 Connection closed before the message was complete' }, { reason: 'client disconnected during DATA' }), aborted: true };
    }
    log.error('cannot spool message', { error: String((err as Error)?.message ?? err), code: (err as NodeJS.ErrnoException)?.code });
    rt.storage.noteFailure(err);
    return summary('tempfail', spoolErrorReply(err));
  }
  const discard = () => rt.queue.discard(tx.id).catch((e) => log.error('cannot remove spool file', { error: String(e) }));
  received = spooled.size;
  if (spooled.oversized || stream.sizeExceeded) {
    await discard();
    messageId = messageIdOfHeaderBlock(spooled.headerBlock);
    return summary('reject', { code: 552, text: `5.3.4 Message size exceeds fixed limit of ${cfg.limits.max_message_size} bytes` });
  }
  if (spooled.headerTooLarge) {
    // Refused after the final dot, as Haraka does, where the client reads the reply; Postfix would move the rest of
    // the header into the body, which would leave plugins judging a header that is not the one relayed.
    await discard();
    messageId = messageIdOfHeaderBlock(spooled.headerBlock);
    return summary('reject', { code: 552, text: '5.3.4 Message header too large' }, { reason: `header section over limits.max_header_size (${cfg.limits.max_header_size} bytes)` });
  }
  if (spooled.sawBareLineEnd && cfg.smtp.bare_lf === 'reject') {
    await discard();
    return summary('reject', { code: 550, text: '5.6.0 Message contains a bare CR or LF line ending' });
  }

  timings.ms_spool = Date.now() - dataAt;
  const message = new SpooledMessage(tx.id, file, spooled.size, spooled.headerBlock, spooled.body);
  tx.message = message;
  messageId = loggedMessageId(message.headers.first('Message-ID'));
  // Before any plugin spends time on it: a message in a loop comes back until the count stops it.
  const hopCount = countHops(message.headers, st.greetingName);
  if (tooManyHops(hopCount, cfg.limits.max_hops)) {
    await discard();
    // A warning besides the message's line, as Postfix's "hopcount exceeded": a loop is a routing mistake to mend.
    log.warn('message refused: too many hops, a mail loop', { client: st.remote.ip, hops: hopCount.hops, hops_through_us: hopCount.ours, max_hops: cfg.limits.max_hops });
    return summary('reject', TOO_MANY_HOPS, {
      reason: `mail loop: ${hopCount.hops} hops with ours, limits.max_hops is ${cfg.limits.max_hops}`, hops: hopCount.hops, hops_through_us: hopCount.ours,
    });
  }

  let forced: { action: VerdictAction; reason: string } | undefined;
  const policy = rt.policy;
  const copies: CopyPolicy = {
    maxRecipients: cfg.limits.max_recipients,
    isBlocked: (a) => isBlockedRecipient(policy, a),
  };
  const r = await runHook(plugins, { hook: 'data', session: st, tx, log, services: rt.services, copies });
  const o = r.outcome;
  const observe = () => {
    if (chainHooks(plugins).has('afterVerdict')) {
      void runHook(plugins, { hook: 'afterVerdict', session: st, tx, log, services: rt.services });
    }
  };
  if (o.action === 'reject' || o.action === 'tempfail' || o.action === 'disconnect') {
    await discard();
    const reply = replyFor('data', o);
    const action = reply.code >= 500 ? 'reject' : 'tempfail';
    // The verdict is the plugin's, whatever the score says (a deferred message is not one refused, nor the other way
    // round); the observers hear it as they hear a refusal by score: a honeypot's mail refused by a rule is learned.
    const why = o.reason ?? (Array.isArray(o.text) ? o.text.join(' ') : (o.text ?? (action === 'reject' ? 'refused' : 'deferred')));
    tx.verdict = { ...decideVerdict(tx.findings, cfg.scores), action, reason: `${r.plugin}: ${why}`, forced: true };
    observe();
    rt.metrics.countRefusal('data', r.plugin, [], reply.code);
    summary(action, reply, { plugin: r.plugin, reason: tx.verdict.reason });
    return o.action === 'disconnect' ? { ...reply, close: true } : reply;
  }
  if (o.action === 'quarantine') forced = { action: 'quarantine', reason: `${r.plugin}: ${Array.isArray(o.text) ? o.text.join(' ') : (o.text ?? 'quarantined')}` };
  // A data hook's accept (a rule's): delivered whatever the score, as the verdict allows (core/verdict/verdict.ts).
  if (o.action === 'accept') forced = { action: 'accept', reason: `${r.plugin}: ${o.reason ?? 'accepted'}` };
  // A quarantine only an administrator may release (a virus) stays so whatever the score says of it.
  const adminRelease = o.action === 'quarantine' && o.recipientMayRelease === false;

  const verdict = decideVerdict(tx.findings, cfg.scores, forced);
  tx.verdict = verdict;

  if (verdict.action === 'reject' || verdict.action === 'tempfail') {
    await discard();
    const reply = scoreReply(verdict, cfg.scores);
    rt.metrics.countRefusal('data', decidingPlugin(verdict.findings), [], reply.code);
    observe();
    return summary(verdict.action, reply, { reason: verdict.reason });
  }

  // Recipients a plugin dropped (spam traps) get nothing, and the sender hears the same 250 as for any accepted
  // message, so that a trap is not given away.
  const kept = tx.recipients.filter((r) => !tx.discards.has(r.address.toLowerCase()));
  const discarded = tx.recipients.filter((r) => tx.discards.has(r.address.toLowerCase())).map((r) => r.address);
  for (const rcpt of discarded) {
    const d = tx.discards.get(rcpt.toLowerCase())!;
    log.info('recipient discarded', { to: [rcpt], plugin: d.plugin, reason: d.reason });
  }
  if (discarded.length) rt.metrics.inc('recipients_discarded', discarded.length);
  const accepted = { code: 250, text: `2.0.0 Ok: queued as ${tx.id}` };
  if (kept.length === 0) {
    await discard();
    observe();
    return summary(verdict.action, accepted, { reason: verdict.reason, discarded, delivered_to: 'nobody' });
  }

  // A quarantined message keeps only its own recipients: a release delivers what the client sent, to whom it named.
  const deliveredTo = [...kept, ...(verdict.action === 'quarantine' ? [] : [...tx.copies.values()].map((c) => c.rcpt))];
  // A user's mail to the world goes without our X-Mailmoat-* fields, as headers.outbound_without_verdict chooses.
  const ownFieldsOff = leavesWithoutOwnFields(st, deliveredTo, cfg.headers.outbound_without_verdict, (d) => rt.services.isLocalDomain(d));
  // Headers the relayed message gets, in order: our Received, the verdict, then what plugins asked for.
  let prepend = receivedHeader(st, tx, cfg.server.received_for_authenticated);
  // Left out, the verdict's fields go whole, SpamAssassin's too: its tests= names the plugins as the verdict's field does.
  const added = ownFieldsOff ? withoutOwnFields(tx.addHeaders) : [...verdictHeaders(verdict, cfg.scores, cfg.headers.spam_fields), ...tx.addHeaders];
  // The verdict's tag goes on the Subject the message leaves with: one a plugin put in place of the original (the
  // rules plugin's own tag) is tagged where it stands, and no second Subject field is added.
  const tagging = !!cfg.scores.subject_tag && judgedSpam(verdict, cfg.scores);
  const pluginSubject = tagging && tx.removeHeaders.has('subject') ? added.findIndex(([n]) => n.toLowerCase() === 'subject') : -1;
  if (pluginSubject >= 0) added[pluginSubject] = ['Subject', taggedSubject(cfg.scores.subject_tag, added[pluginSubject][1])];
  for (const [n, v] of added) prepend += formatHeader(n, v);
  // A client's own X-Mailmoat-* fields (`X-Mailmoat-Spam: No`) must never pass for ours.
  const remove = new Set([...tx.removeHeaders, ...ownFieldsToRemove(spooled.headerBlock, message.headers.fields)]);
  // With SpamAssassin's fields on, a sender's `X-Spam-Flag: NO` must not stand beside the gateway's answer.
  if (cfg.headers.spam_fields.includes('spamassassin')) for (const name of UPSTREAM_SPAM_FIELDS) remove.add(name);
  if (tagging && pluginSubject < 0) {
    remove.add('subject');
    prepend += formatHeader('Subject', taggedSubject(cfg.scores.subject_tag, message.headers.first('Subject') ?? ''));
  }
  // Decided on the header it leaves with; the relay signs it as it goes, and counts what left (core/dkim/README.md).
  const dkimDecision = dkimPlan(cfg.dkim, { user: st.user, relayNetwork: st.relayNetwork, mailFrom: tx.mailFrom?.address ?? '', loginMismatch: (a) => senderLoginMismatch(rt, st, a) }, { headers: message.headers, added, remove });
  const dkim = signs(dkimDecision) ? dkimDecision : undefined;
  // A plugin may have replaced the message (ctx.rewriteMessage): the ID logged from here on is the one that leaves.
  messageId = loggedMessageId(message.headers.first('Message-ID'));
  if (st.user) {
    if (!message.headers.has('Message-ID')) {
      const generated = `<${tx.id}.${randomBytes(4).toString('hex')}@${st.greetingName}>`;
      prepend += formatHeader('Message-ID', generated);
      messageId = generated;
    }
    if (!message.headers.has('Date')) prepend += formatHeader('Date', mailDate());
  }

  const now = Date.now();
  const entry: QueueEntry = {
    id: tx.id,
    mailFrom: tx.mailFrom?.address ?? '',
    recipients: deliveredTo.map((a) => ({ address: a.address, status: 'pending', ...recipientDsnFields(a.params) })),
    prepend,
    remove: [...remove],
    // Quarantined mail leaves only once a person released it as wanted: it is kept with its Subject untagged.
    ...(verdict.action === 'quarantine' && tagging ? withoutSubjectTag({ prepend, remove: [...remove], tag: cfg.scores.subject_tag, clientSubject: message.headers.first('Subject'), pluginHeaders: tx.addHeaders, pluginRemoved: tx.removeHeaders }) : {}),
    receivedAt: now,
    size: message.size,
    client: { ip: st.remote.ip, helo: st.helo, user: st.user },
    authenticated: !!st.user,
    ...(st.relayNetwork ? { relayNetwork: true as const } : {}),
    attempts: 0,
    nextAttemptAt: now,
    history: [],
    verdict: { action: verdict.action, score: verdict.score, symbols: verdict.findings.map((f) => f.symbol), reason: verdict.reason },
    ...(tx.mailFrom?.params.SMTPUTF8 ? { smtputf8: true } : {}),
    ...(messageId ? { messageId } : {}),
    ...(dkim ? { dkim: dkim.domain } : {}),
    ...(verdict.action === 'quarantine' && adminRelease ? { recipientMayRelease: false as const } : {}),
    ...messageDsnFields(tx.mailFrom?.params),
  };

  const commitAt = Date.now();
  try {
    if (verdict.action === 'quarantine') {
      message.writeOut(); // the quarantine keeps one file per message
      await rt.queue.commitTo('quarantine', entry);
    } else if (message.memoryCopy && cfg.queue.journal) {
      await rt.queue.commitJournaled(entry, message.memoryCopy);
      if (message.onDisk) void discard(); // a plugin had it written out; the journal holds it now
    } else {
      message.writeOut();
      await rt.queue.commit(entry);
    }
  } catch (err) {
    await discard();
    await rt.queue.remove(tx.id).catch(() => undefined);
    log.error('cannot commit message to the queue', { error: String((err as Error)?.message ?? err), code: (err as NodeJS.ErrnoException)?.code });
    rt.storage.noteFailure(err);
    return summary('tempfail', spoolErrorReply(err));
  }
  rt.storage.noteSuccess();
  timings.ms_commit = Date.now() - commitAt;
  if (verdict.action !== 'quarantine') {
    if (message.memoryCopy) rt.queue.keepBody(entry.id, message.memoryCopy);
    rt.delivery.add(entry);
    copiesQueued = true;
    for (const c of tx.copies.values()) log.info('recipient copied', { to: [c.rcpt.address], plugin: c.plugin, reason: c.reason });
    if (tx.copies.size) rt.metrics.inc('recipients_copied', tx.copies.size);
  }
  observe();
  return summary(verdict.action, accepted, { reason: verdict.reason, ...(discarded.length ? { discarded } : {}), ...(ownFieldsOff ? { verdict_headers: 'omitted' } : {}), ...(dkim ? { dkim: `${dkim.domain}/${dkim.selector}` } : {}), ...(dkimDecision && 'unsigned' in dkimDecision ? { dkim_not_signed: dkimDecision.unsigned } : {}) });
}
