// A HookContext stand-in for unit tests of the spf and dmarc plugins' own logic (the end-to-end tests use the real gateway).
import type { DnsResolver, Finding, HookContext, HookName, Logger, MessageView } from '../../../core/index.ts';

export interface FakeContextInput {
  hook: HookName;
  dns: DnsResolver;
  ip?: string;
  helo?: string;
  mailFrom?: string;
  trusted?: boolean;
  user?: string;
  message?: MessageView;
  findings?: Finding[];
  state?: Record<string, unknown>;
  connectionState?: Record<string, unknown>;
  /** Plugin name put on findings this context records. */
  plugin?: string;
}

export interface FakeContext extends HookContext {
  readonly added: Finding[];
  readonly headers: Array<{ name: string; value: string }>;
  /** Names passed to removeHeader, lower-cased. */
  readonly removed: string[];
}

const quietLog: Logger = {
  debug() {}, info() {}, warn() {}, error() {},
  child() { return quietLog; },
};

export function fakeContext(input: FakeContextInput): FakeContext {
  const findings: Finding[] = input.findings ?? [];
  const added: Finding[] = [];
  const headers: Array<{ name: string; value: string }> = [];
  const removed: string[] = [];
  const from = input.mailFrom;
  const at = from ? from.lastIndexOf('@') : -1;
  return {
    hook: input.hook,
    session: {
      id: 'test', remote: { ip: input.ip ?? '192.0.2.1', port: 40000 }, local: { ip: '127.0.0.1', port: 25 },
      listener: 'smtp', helo: input.helo, tls: false, user: input.user, relayNetwork: false,
      trusted: input.trusted ?? false, allowlisted: false,
    },
    log: quietLog,
    mailFrom: from === undefined ? undefined : {
      address: from, local: at < 0 ? '' : from.slice(0, at).toLowerCase(), domain: at < 0 ? '' : from.slice(at + 1).toLowerCase(), params: {},
    },
    recipients: [],
    message: input.message,
    findings,
    services: { dns: input.dns, store: undefined as never, dataDir: '/nonexistent', hostname: 'mx.test.example', isLocalDomain: () => false, relayTarget: () => undefined },
    state: input.state ?? {},
    connectionState: input.connectionState ?? {},
    added,
    headers,
    removed,
    addFinding(symbol, score, detail) { const f = { symbol, score, detail, plugin: input.plugin ?? 'test' }; findings.push(f); added.push(f); },
    addHeader(name, value) { headers.push({ name, value }); },
    removeHeader(name) { removed.push(name.toLowerCase()); },
    async rewriteMessage() { throw new Error('not in this test'); },
    discardRecipient() { throw new Error('not in this test'); },
    redirectRecipient() { throw new Error('not in this test'); },
    addRecipient() { throw new Error('not in this test'); },
    setVerifiedClientName() { throw new Error('not in this test'); },
  };
}
