// The gateway's live state shared by the front door and the queue; a SIGHUP reload swaps `config`, `policy`, `plugins`,
// `services` (a new resolver, a new hostname), `users` and `hostname`, which sessions read when they need them.
import type { AuthFailures } from './auth/auth-failures.ts';
import type { GatewayConfig } from './config/gateway-schema.ts';
import type { LoadedPlugin } from './plugin/loader.ts';
import type { Services } from './hooks/context.ts';
import type { QueueStore } from './queue/queue-store.ts';
import type { DeliveryQueue } from './queue/delivery-queue.ts';
import type { UsersFile } from './auth/users-file.ts';
import type { Logger } from './log/types.ts';
import { domainToASCII } from 'node:url';
import { CidrList } from './net/cidr.ts';
import { addressMatcher } from './lists/address-matcher.ts';
import { loadRecipientTable } from './lists/recipient-table.ts';
import { loadSenderLogins, type SenderLogins } from './auth/sender-logins.ts';
import type { Metrics } from './metrics.ts';
import type { ConnectionLimits } from './smtp/connection-limits.ts';
import type { StorageHealth } from './queue/storage-health.ts';

/** Config compiled for the per-connection path (CIDR lists, regexes, sets). */
export interface Policy {
  relay: CidrList;
  allow: CidrList;
  deny: CidrList;
  trustedProxies: CidrList;
  heloDeny: RegExp[];
  /** access.blocked_recipients, matched by mailbox (core/lists/address-matcher.ts). */
  blockedRecipients: (address: string) => boolean;
  /** access.blocked_senders, matched the same way. */
  blockedSenders: (address: string) => boolean;
  /** access.recipients_file, read when the policy is compiled (at start and at each reload); undefined when unset. */
  knownRecipient?: (address: string) => boolean;
  /** auth.sender_logins, read as the recipients file is; undefined when unset. */
  senderLogins?: SenderLogins;
  localDomains: Set<string>;
}

/** access.blocked_recipients: the address (by mailbox, its tag cut off), or `@domain` for every address of the domain. */
export function isBlockedRecipient(policy: Policy, a: { address: string }): boolean {
  return policy.blockedRecipients(a.address);
}

export function compilePolicy(cfg: GatewayConfig): Policy {
  return {
    relay: new CidrList(cfg.relay.networks),
    allow: new CidrList(cfg.access.allow_ips),
    deny: new CidrList(cfg.access.deny_ips),
    trustedProxies: new CidrList(cfg.server.trusted_proxies),
    heloDeny: cfg.access.helo_deny.map((p) => new RegExp(p, 'i')),
    blockedRecipients: addressMatcher(cfg.access.blocked_recipients, cfg.access.recipient_delimiter),
    blockedSenders: addressMatcher(cfg.access.blocked_senders, cfg.access.recipient_delimiter),
    // Read anew at each compile: a reload is how an edited file takes effect; one unreadable by then refuses the reload.
    knownRecipient: cfg.access.recipients_file ? loadRecipientTable(cfg.access.recipients_file, cfg.access.recipient_delimiter) : undefined,
    senderLogins: cfg.auth.sender_logins ? loadSenderLogins(cfg.auth.sender_logins, cfg.access.recipient_delimiter) : undefined,
    // Both forms of an internationalized name: smtp-server gives a recipient's domain in Unicode, and a client
    // without SMTPUTF8 keeps the A-label form it sent (see the session handler).
    localDomains: new Set(cfg.domains.flatMap((d) => {
      const name = d.toLowerCase().replace(/\.$/, '');
      return [name, domainToASCII(name) || name];
    })),
  };
}

export interface Runtime {
  config: GatewayConfig;
  policy: Policy;
  plugins: LoadedPlugin[];
  /** What hooks get as `ctx.services`: replaced whole by a reload, so a hook running keeps the resolver it started with. */
  services: Services;
  readonly queue: QueueStore;
  readonly delivery: DeliveryQueue;
  /** Read at each AUTH: a session that logged in before a reload keeps its login. */
  users: UsersFile;
  readonly log: Logger;
  /** server.hostname (or the machine's name): the greeting, Received and Message-ID of sessions after a reload. */
  hostname: string;
  readonly metrics: Metrics;
  /** Connections counted across every listener. */
  readonly connections: ConnectionLimits;
  /** Failed AUTH attempts per client address (limits.max_auth_failures). */
  readonly authFailures: AuthFailures;
  /** Whether the queue's disk refused a write (full) and has not taken one since: the readiness check reads it. */
  readonly storage: StorageHealth;
}
