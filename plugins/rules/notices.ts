// A rule's notice from the match to the queue. The data hook keeps what the rule saw with the transaction; the notice
// is written in afterVerdict, once the reply is decided and a message to be delivered or held is committed, so it
// tells what became of the message: delivered, held, refused (by this rule, another plugin, or the score), or dropped.
// A deferred message gets none: its client sends it again, it is judged again, and the answer it then gets is told.
import type { HookContext, PluginMetrics, Verdict } from '../../core/index.ts';
import { toAddress } from '../../core/smtp/address-policy.ts';
import type { Facts } from './facts.ts';
import type { RuleNotice } from './evaluate.ts';
import type { NotifyAction } from './notify-config.ts';
import { buildNotice, fillTemplate, noticeValues, quoted } from './notice-mail.ts';
import type { NoticeMarker } from './notice-marker.ts';
import type { NoticeRate } from './notice-rate.ts';

/** What the data hook keeps for afterVerdict, under the plugin's transaction state. */
interface KeptNotices {
  qid: string;
  sender: string;
  subject: string;
  notices: Array<{ rule: string; notify: NotifyAction; recipients: string[]; discarded: boolean }>;
}

const STATE_KEY = 'notices';

/** Keeps the matched rules' notices with the transaction, for sendNotices. */
export function keepNotices(ctx: HookContext, facts: Facts, notices: readonly RuleNotice[]): void {
  if (!notices.length) return;
  const kept: KeptNotices = {
    qid: ctx.queueId ?? '', sender: facts.mailFrom, subject: facts.subject,
    notices: notices.map((n) => ({ rule: n.rule.name, notify: n.rule.actions.notify!, recipients: n.recipients, discarded: n.discarded })),
  };
  ctx.state[STATE_KEY] = kept;
}

export interface NoticeDeps {
  rate: NoticeRate;
  /** Marks each notice as the gateway's own; absent where no gateway runs. */
  marker?: NoticeMarker;
  metrics?: PluginMetrics;
}

/** What became of the message, in a word, then why (the verdict's reason). */
function actionText(v: Verdict, discarded: boolean): string {
  if (v.action === 'reject') return `reject (${v.reason})`;
  if (discarded) return 'discard';
  return `${v.action === 'quarantine' ? 'quarantine' : 'deliver'} (${v.reason})`;
}

/** Who gets a notice: the admins together, and with `recipients` each local recipient alone, naming only them. */
function addressees(ctx: HookContext, n: KeptNotices['notices'][number]): Array<{ to: string[]; about: string[] }> {
  const out = n.notify.to.length ? [{ to: n.notify.to, about: n.recipients }] : [];
  if (n.notify.toRecipients) {
    // Never outside: a notice tells of the gateway's rules, and of the other recipients.
    for (const r of n.recipients) if (ctx.services.isLocalDomain(toAddress(r, false).domain)) out.push({ to: [r], about: [r] });
  }
  return out;
}

/** afterVerdict: queues the notices the data hook kept, as the verdict says and the rate limit allows. */
export async function sendNotices(ctx: HookContext, deps: NoticeDeps): Promise<void> {
  const kept = ctx.state[STATE_KEY] as KeptNotices | undefined;
  const verdict = ctx.verdict;
  if (!kept || !verdict) return;
  delete ctx.state[STATE_KEY];
  const rules = kept.notices.map((n) => n.rule);
  if (verdict.action === 'tempfail') {
    ctx.log.info('rules: no notice for a deferred message: its retry is judged again', { rules });
    return;
  }
  const own = ctx.services.ownMail;
  if (!own) { ctx.log.warn('rules: notice not sent: no mail of the gateway\'s own can be queued here', { rules }); return; }
  for (const n of kept.notices) {
    for (const { to, about } of addressees(ctx, n)) {
      if (!deps.rate.take(n.rule)) { deps.metrics?.inc('notices_suppressed'); continue; }
      const values = noticeValues({
        rule: n.rule, qid: kept.qid, sender: kept.sender, recipients: about, subject: kept.subject,
        action: actionText(verdict, n.discarded), score: verdict.score,
      });
      const data = buildNotice({
        from: own.from(), to, hostname: ctx.services.hostname, rule: n.rule, qid: kept.qid, marker: deps.marker,
        subject: fillTemplate(n.notify.subject, values), body: fillTemplate(n.notify.body, values),
      });
      try {
        const id = await own.queue(to, data);
        deps.metrics?.inc('notices_sent');
        ctx.log.info('rules: notice queued', { rule: n.rule, notice_qid: id, to, action: values.action });
      } catch (e) {
        deps.metrics?.inc('notices_failed');
        ctx.log.warn('rules: notice could not be queued', { rule: n.rule, to, error: quoted((e as Error).message) });
      }
    }
  }
}
