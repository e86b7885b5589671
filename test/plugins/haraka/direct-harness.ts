// Drives the haraka plugin's hooks directly with real contexts (spool file, DNS, findings), without an SMTP front door.
import { mkdtempSync, writeFileSync, createReadStream, readFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import os from 'node:os';
import path from 'node:path';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import type { HookContext, HookHandlers, HookName, Finding, Outcome, Address, MessageView } from '../../../core/index.ts';

export interface DirectSession {
  remote: { ip: string; port: number; hostname?: string };
  helo?: string;
  trusted: boolean;
  connectionState: Record<string, unknown>;
}

export interface TxResult {
  findings: Finding[];
  added: Array<[string, string]>;
  removed: string[];
}

const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return silent; } };

// Each message's spool dir is removed when the process exits, not at disconnect: a hook may read the message until
// then, and a failing test never gets there. Not by an `after` here either: at a module's top level that is mocha's
// root hook, skipped when the run is cut short or another file's root hook fails first.

function addr(a: string): Address {
  const at = a.lastIndexOf('@');
  return { address: a, local: at < 0 ? a.toLowerCase() : a.slice(0, at).toLowerCase(), domain: at < 0 ? '' : a.slice(at + 1).toLowerCase(), params: {} };
}

/** One SMTP conversation: each step calls the plugin's hook with a fresh context and returns its outcome. */
export class DirectConversation {
  readonly s: DirectSession;
  readonly tx: TxResult = { findings: [], added: [], removed: [] };
  private hooks: HookHandlers;
  private dnsServer: string;
  private from?: Address;
  private rcpts: Address[] = [];
  private message?: MessageView;

  constructor(hooks: HookHandlers, ip: string, dnsServer: string) {
    this.hooks = hooks;
    this.dnsServer = dnsServer;
    this.s = { remote: { ip, port: 40000 }, trusted: false, connectionState: {} };
  }

  private ctx(hook: HookName, extra: Partial<HookContext> = {}): HookContext {
    const resolver = new Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([this.dnsServer]);
    const tx = this.tx;
    return {
      hook,
      session: { id: 'S1', remote: this.s.remote, local: { ip: '127.0.0.1', port: 25 }, listener: 'smtp', helo: this.s.helo, tls: false, relayNetwork: false, trusted: this.s.trusted, allowlisted: false },
      log: silent,
      mailFrom: this.from,
      recipients: this.rcpts,
      message: this.message,
      findings: tx.findings,
      services: {
        dns: { resolve4: (n) => resolver.resolve4(n), resolve6: (n) => resolver.resolve6(n), resolveMx: (n) => resolver.resolveMx(n),
          resolveTxt: async (n) => (await resolver.resolveTxt(n)).map((p) => p.join('')), reverse: (ip) => resolver.reverse(ip) },
        store: undefined as never, dataDir: os.tmpdir(), hostname: 'mx.example.test', isLocalDomain: () => false, relayTarget: () => undefined,
      },
      state: {},
      connectionState: this.s.connectionState,
      addFinding: (symbol, score, detail) => { tx.findings.push({ symbol, score, detail, plugin: 'haraka' }); },
      addHeader: (name, value) => { tx.added.push([name, value]); },
      removeHeader: (name) => { tx.removed.push(name); },
      rewriteMessage: async () => { throw new Error('not here'); },
      discardRecipient: () => { throw new Error('not here'); },
      redirectRecipient: () => { throw new Error('not here'); },
      addRecipient: () => { throw new Error('not here'); },
      setVerifiedClientName: () => { throw new Error('not here'); },
      ...extra,
    };
  }

  async call(hook: HookName, extra: Partial<HookContext> = {}): Promise<Outcome | void> {
    return this.hooks[hook]?.(this.ctx(hook, extra));
  }

  connect() { return this.call('connect'); }
  helo(name: string) { this.s.helo = name; return this.call('helo'); }
  mail(a: string) { this.from = addr(a); this.rcpts = []; return this.call('mailFrom'); }
  async rcpt(a: string) {
    const r = addr(a);
    const o = await this.call('rcptTo', { rcpt: r });
    if (!o || o.action === 'continue' || o.action === 'accept') this.rcpts.push(r);
    return o;
  }
  dataStart() { return this.call('dataStart'); }
  async data(raw: string) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'haraka-direct-'));
    holdUntilExit({ dir });
    const file = path.join(dir, 'msg.eml');
    writeFileSync(file, raw.replace(/\r?\n/g, '\r\n'));
    this.message = {
      id: 'Q1', path: file, size: raw.length, headers: undefined as never,
      stream: () => createReadStream(file), raw: async () => readFileSync(file), parsed: async () => { throw new Error('unused'); },
    };
    return this.call('data');
  }
  afterVerdict(action: 'accept' | 'reject') {
    return this.call('afterVerdict', { verdict: { action, score: 0, level: 'None', findings: [], reason: 'test' } });
  }
  disconnect() { return this.call('disconnect'); }
}
