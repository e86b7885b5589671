// Per-connection and per-transaction state that hooks read and write through their context.
import type { Address, SessionView } from './context.ts';
import type { Finding, Verdict } from '../verdict/types.ts';
import type { SpooledMessage } from '../message/spooled-message.ts';

export interface SessionState extends SessionView {
  /** Mutable fields the front door keeps current. */
  helo?: string;
  heloVerb?: 'HELO' | 'EHLO';
  tls: boolean;
  user?: string;
  remote: { ip: string; port: number; hostname?: string; verifiedName?: string };
  /**
   * The name this session was greeted with (server.hostname when it connected): its Received and Message-ID say the
   * same, also when a reload changes server.hostname while it is open.
   */
  greetingName: string;
  relayNetwork: boolean;
  trusted: boolean;
  allowlisted: boolean;
  /** Per-plugin connection scratch space. */
  pluginState: Map<string, Record<string, unknown>>;
  /** Refused commands and recipients so far. */
  errors: number;
  /** Set when a connect hook refused the client: every later command gets this reply (Postfix-style delayed reject). */
  rejected?: { code: number; text: string | string[] };
  transactions: number;
  startedAt: number;
  /** Ends the connection (the front door sets it at the greeting), for a plugin's disconnect outcome after its reply. */
  closeConnection?: () => void;
}

export class Transaction {
  readonly id: string;
  mailFrom?: Address;
  readonly recipients: Address[] = [];
  /**
   * The client's own RCPT addresses the transaction accepted (every rcptTo hook and the core said yes), once each, in
   * the order accepted, as the client wrote them (a bare `postmaster` with the domain the core gave it). Unlike
   * `recipients`, a redirect does not replace one here, and targets a redirect added are not in it.
   */
  readonly acceptedRcpts: string[] = [];
  readonly findings: Finding[] = [];
  readonly addHeaders: Array<[string, string]> = [];
  readonly removeHeaders = new Set<string>();
  /** Recipients (lower case) a data hook asked to drop, with who asked and why. */
  readonly discards = new Map<string, { plugin: string; reason: string }>();
  /**
   * Where the recipient now being checked at RCPT goes instead, as a rcptTo hook asked; the front door applies it only
   * if the chain accepts that recipient, and clears it for every RCPT so a refused one's redirect never leaks.
   */
  redirect?: { targets: Address[]; plugin: string; reason: string };
  /**
   * Recipients a data hook added (copies: PMG's BCC, MailEnable's copy to), by lower-cased address, in call order. Kept
   * apart from `recipients` because they go only with a message that is delivered, and never show in its headers.
   */
  readonly copies = new Map<string, { rcpt: Address; plugin: string; reason: string }>();
  readonly pluginState = new Map<string, Record<string, unknown>>();
  message?: SpooledMessage;
  verdict?: Verdict;
  readonly startedAt = Date.now();
  constructor(id: string) { this.id = id; }
}
