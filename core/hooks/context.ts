// What a hook handler sees: the session, the envelope, the message, and the ways to report findings and headers.
import type { SmarthostTarget } from '../relay/smarthost.ts';
import type { HookName } from './hook-names.ts';
import type { MessageView } from '../message/types.ts';
import type { Logger } from '../log/types.ts';
import type { DnsResolver } from '../dns/types.ts';
import type { StateStore } from '../store/types.ts';
import type { Finding, Verdict } from '../verdict/types.ts';

export interface Address {
  /** The address as given, `''` for the null sender. */
  address: string;
  /** Lower-cased local part and domain (domain empty for the null sender). */
  local: string;
  domain: string;
  /** ESMTP parameters of the command, keys upper case. */
  params: Record<string, string | true>;
}

export type ListenerKind = 'smtp' | 'smtps' | 'submission';

export interface SessionView {
  readonly id: string;
  /**
   * The client as every check must see it: the PROXY/XCLIENT address when a trusted proxy gave one. `hostname` is the
   * name a trusted proxy's XCLIENT NAME gave; `verifiedName` the one a plugin verified (setVerifiedClientName: the
   * ptr plugin's forward-confirmed PTR name), lower-case A-labels, kept until XCLIENT names another address.
   */
  readonly remote: { readonly ip: string; readonly port: number; readonly hostname?: string; readonly verifiedName?: string };
  readonly local: { ip: string; port: number };
  readonly listener: ListenerKind;
  readonly helo?: string;
  /** The greeting command the client used: HELO or EHLO. */
  readonly heloVerb?: 'HELO' | 'EHLO';
  readonly tls: boolean;
  /** The authenticated user name, if any. */
  readonly user?: string;
  /** In `relay.networks`. */
  readonly relayNetwork: boolean;
  /** Authenticated or in `relay.networks`: may relay, and most sender checks skip it. */
  readonly trusted: boolean;
  /** In `access.allow_ips`: blocklist-style gates skip it. */
  readonly allowlisted: boolean;
  /**
   * True when `moat check` runs this session: an admin scores a message by hand and nothing is delivered. A plugin
   * answers as it would for a client but changes no state (no greylist entry, no lesson learned, no counter); see
   * core/hooks/README.md.
   */
  readonly check?: boolean;
}

/** Services the core offers every plugin. */
export interface Services {
  readonly dns: DnsResolver;
  readonly store: StateStore;
  readonly dataDir: string;
  readonly hostname: string;
  isLocalDomain(domain: string): boolean;
  /**
   * Where the gateway relays mail for `domain` under its running config: the smarthost (a route's own, or the main
   * one) with its TLS and AUTH settings, 'mx' for a route to the domain's MX hosts, undefined when mail goes to files.
   */
  relayTarget(domain: string): SmarthostTarget | 'mx' | undefined;
  /**
   * `scores.max_per_plugin` of the running config, for a plugin that shows or tests the total of the findings so far:
   * `cappedTotal(findings, caps)` (core/verdict/plugin-caps.ts) is the score the verdict would give them. Absent
   * where no gateway runs (a unit test's services): then no cap applies.
   */
  scoreCaps?(): Readonly<Record<string, number>>;
  /**
   * Mail the gateway sends of its own for a plugin (the rules plugin's notices), queued as the quarantine digest is:
   * `from()` is the address its From field names (queue.bounces.postmaster, else postmaster@<server.hostname>);
   * `queue(to, data)` writes the whole message durably with the null sender and hands it to delivery, resolving with
   * its queue id (it throws when it cannot be written). It never runs through the plugin chain. Absent where no
   * gateway runs (a unit test's services, `moat check-config`).
   */
  ownMail?: { from(): string; queue(to: readonly string[], data: Buffer): Promise<string> };
}

/** The command line of the hooks that run for a client's command (HookContext.command). */
export interface CommandView {
  /** The verb, upper-cased (`NOOP`, `XFOO`). */
  readonly verb: string;
  /** Everything after the verb and its spaces, as sent (`VRFY bob` → `bob`). */
  readonly args: string;
  /** The whole line as sent, verb case kept. */
  readonly line: string;
}

export interface HookContext {
  readonly hook: HookName;
  /**
   * The `name` of this plugin's entry in `plugins` (`name#2`, `#3`… for a later entry of a name an earlier one has):
   * what its findings (`Finding.plugin`), `state`, `connectionState`, log lines, counters and `scores.max_per_plugin`
   * cap go by. It is the module's own name unless the entry loads the module by `module:` under another, as two
   * entries of one plugin do (two groups of blocklists with caps of their own): those are two plugins. The core always
   * sets it; a context a unit test makes by hand may leave it out.
   */
  readonly pluginName?: string;
  readonly session: SessionView;
  readonly log: Logger;
  /** The transaction's queue id, the one its `250 … queued as` names and its log lines carry; undefined outside a transaction. */
  readonly queueId?: string;
  /** The sender of the current transaction; undefined before MAIL FROM. */
  readonly mailFrom?: Address;
  /** Recipients accepted so far. */
  readonly recipients: readonly Address[];
  /**
   * The RCPT addresses of the client that were accepted so far, once each (compared without case), in the order
   * accepted, as the client wrote them: refused ones are absent, and a recipient a plugin redirected is here under its
   * own address while `recipients` holds its targets. At rcptTo it does not hold the recipient being checked: a
   * plugin learns whether the rest of the chain took it at a later hook (dataStart). Undefined outside a transaction.
   */
  readonly acceptedRcpts?: readonly string[];
  /** rcptTo only: the recipient being checked. */
  readonly rcpt?: Address;
  /**
   * rcptTo only: where the recipient being checked goes, as the chain decided so far: the targets a plugin before this
   * one (or this one itself) gave `redirectRecipient`, else `[rcpt]`. A check of the mailbox behind an address
   * (recipient verification, a per-recipient dictionary) reads this rather than `rcpt`, since an alias's own name is
   * no mailbox. Only what ran before counts: list the plugin that redirects (aliases) before those that read it. The
   * targets are as the plugin named them, before the core drops those `access.blocked_recipients` refuses and those
   * already in the transaction. Frozen: a redirect is changed through `redirectRecipient` only.
   */
  readonly rcptTargets?: readonly Readonly<Address>[];
  /** data and afterVerdict: the spooled message. */
  readonly message?: MessageView;
  /** afterVerdict only. */
  readonly verdict?: Verdict;
  /**
   * capabilities only: the EHLO keywords after the greeting line (`PIPELINING`, `SIZE 10485760`, `STARTTLS`…).
   * Push, splice or edit in place; the 250 reply lists what is left once every plugin ran.
   */
  readonly capabilities?: string[];
  /**
   * The client's command line as sent: helo (its HELO or EHLO), mailFrom, rcptTo, dataStart, noop, vrfy, rset, quit
   * and unrecognizedCommand. Undefined in the other hooks.
   */
  readonly command?: CommandView;
  /** Findings recorded so far in this transaction, by every plugin. */
  readonly findings: readonly Finding[];
  readonly services: Services;
  /** Per-plugin (per entry: see `pluginName`), per-transaction scratch space. */
  readonly state: Record<string, unknown>;
  /** Per-plugin (per entry), per-connection scratch space. */
  readonly connectionState: Record<string, unknown>;
  /**
   * Records a finding (symbol, score, short detail) under this plugin's name (`pluginName`). The symbol is 1 to 128
   * letters, digits and `_`, the score a number; anything else throws (the client gets 451, the log names the plugin).
   */
  addFinding(symbol: string, score: number, detail?: string): void;
  /**
   * Asks the core to prepend a header to the relayed message. The name is printable ASCII without spaces or `:`
   * (RFC 5322), at most 200 characters, and none of the fields the core writes (`X-Mailmoat-Verdict`, `-Spam`,
   * `-Spam-Score`, `-Spam-Level`, `-Released`, `-Queue-ID`, `-Sender`); the value a string, whose line breaks are
   * unfolded or become spaces. Text beyond ASCII is written as RFC 2047 encoded words, which every reader decodes;
   * a value copied from `ctx.message.headers` that holds the client's UTF-8 passes as it came. A bad name or value
   * throws (the client gets 451, the log names the plugin). A field named `X-Mailmoat-…` (X-Mailmoat-Bayes) is the
   * gateway's: on mail `headers.outbound_without_verdict` sends out bare it is left off with the verdict's.
   */
  addHeader(name: string, value: string): void;
  /** Asks the core to remove every header of that name (or, ending in `*`, prefix) from the relayed message; a name that is not one throws. */
  removeHeader(name: string): void;
  /**
   * data only: replaces the whole spooled message (headers and body) with new content, e.g. after
   * stripping an infected attachment or defanging links. Later plugins and the relay see the new message. Bare CR
   * and LF line ends become CRLF, as a client's DATA is stored; anything but a Buffer throws.
   */
  rewriteMessage(raw: Buffer): Promise<void>;
  /**
   * data only: the message is accepted for this recipient but goes nowhere (a spam trap's address, say). The core
   * logs each such recipient with `reason`; the other recipients get the message as usual, and a message left with no
   * recipient is accepted and dropped. For mail no person reads, never for a judgement about the message.
   */
  discardRecipient(address: string, reason: string): void;
  /**
   * rcptTo only: once the chain accepts the recipient being checked (`rcpt`), the transaction gets `targets` in its
   * place (aliases, virtual domains, routing). The client still sees its own recipient accepted; the verdict, the
   * queue and DSNs see only the targets. Each target is checked like a RCPT address (a bad one refuses the whole call,
   * with a warning); targets already in the transaction are not added twice, and together they still count against
   * `limits.max_recipients` (over it, that RCPT gets 452). Targets may be in any domain: the original recipient passed
   * the relay policy, and where an alias points is the configuration of the plugin that calls this. An empty list is
   * refused: dropping a recipient is discardRecipient's job, in data. The first call in a chain run counts. The plugins
   * after this one in the chain see the targets in `rcptTargets`.
   */
  redirectRecipient(targets: string[], reason: string): void;
  /**
   * data only: a copy of the message also goes to `address` (PMG's BCC, MailEnable's copy to, Postfix's always_bcc),
   * if the message is delivered at all: not when it is rejected, deferred, quarantined or discarded for every
   * recipient. The address is checked like a RCPT address and against `access.blocked_recipients`; a bad one, a call
   * that would take the message over `limits.max_recipients`, or a call outside `data` is ignored with a warning, and
   * never fails the message. An address already a recipient (or already added) is not added twice. The copy is queued
   * with `NOTIFY=NEVER`: if it fails, the sender hears nothing of a recipient it never named (the failure is logged
   * and the message dead-lettered for it, as for any recipient that asked for no notice). It is not in `recipients`,
   * nor in the Received header; the summary line lists it under `copied_to` (`copies_dropped` when not made), and each
   * copy is logged as `recipient copied` with `plugin` and `reason`. Not in afterVerdict: the message is queued by then.
   */
  addRecipient(address: string, reason: string): void;
  /**
   * connect, helo and mailFrom: names the client's verified host name, one whose address records lead back to the
   * client's address (forward-confirmed reverse DNS), as Postfix verifies the name it writes. The session has it as
   * `session.remote.verifiedName` from then on, the Received field names the client by it instead of `unknown`, and
   * the log's summary and refusal lines carry it as `client_name`. Only a checked name may be given: a PTR name that
   * does not resolve back to the client is anyone's to choose. It is kept lower-cased in A-labels, without a trailing
   * dot; a name that is no host name (or ends in a numeric label, as an address does), or a call in another hook, is
   * ignored with a warning. Returns whether the name was taken; a later call replaces it.
   */
  setVerifiedClientName(name: string): boolean;
}
