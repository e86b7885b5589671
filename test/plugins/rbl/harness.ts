// Drives one plugin's hooks through a connection the way the chain runner does, for the DNS-check plugins' tests
// (rbl, urlbl, ptr, sender-domain). DNS is real: the core resolver against the loopback test server.
import type { Finding, HookContext, HookName, Logger, MessageView, Outcome, PluginDefinition, PluginInstance, SessionView } from '../../../core/index.ts';
import { createResolver } from '../../../core/dns/index.ts';

export const quietLog: Logger = { debug() {}, info() {}, warn() {}, error() {}, child() { return quietLog; } };

export interface HookResult { outcome?: Outcome; findings: Finding[]; headers: Array<{ name: string; value: string }>; ms: number; rewritten?: Buffer; verifiedName?: string }

export interface Conn {
  session: SessionView;
  connectionState: Record<string, unknown>;
  run(hook: HookName, extra?: { mailFrom?: string; rcpt?: string; message?: MessageView }): Promise<HookResult>;
}

/** Creates the plugin with a resolver on `dnsAddress`, and returns a way to open connections to it. */
export async function pluginHarness<C>(def: PluginDefinition<C>, options: unknown, dnsAddress: string, dnsOpts: { timeout?: number; tries?: number } = {}) {
  const issues: Array<{ path: string; message: string }> = [];
  const cfg = def.configSchema.parse(options, '', issues);
  if (issues.length) throw new Error(`config: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`);
  const dns = createResolver({ servers: [dnsAddress], timeout: dnsOpts.timeout ?? 300, tries: dnsOpts.tries ?? 1 });
  const services = { dns, store: undefined as never, dataDir: '/nonexistent', hostname: 'mx.test.example', isLocalDomain: () => false, relayTarget: () => undefined };
  const instance: PluginInstance = await def.create(cfg, { log: quietLog, services, projectDir: process.cwd(), configDir: process.cwd() });
  const connect = (session: Partial<SessionView> & { ip?: string }): Conn => {
    const full: SessionView = {
      id: 'c1', remote: { ip: session.ip ?? '93.184.216.1', port: 40000 }, local: { ip: '127.0.0.1', port: 25 }, listener: 'smtp',
      tls: false, relayNetwork: false, trusted: false, allowlisted: false, ...session,
    };
    const connectionState: Record<string, unknown> = {};
    let state: Record<string, unknown> = {};
    let findings: Finding[] = [];
    return {
      session: full,
      connectionState,
      async run(hook, extra = {}) {
        if (hook === 'mailFrom') { state = {}; findings = []; }
        const handler = instance.hooks[hook];
        const added: Finding[] = [];
        const headers: Array<{ name: string; value: string }> = [];
        let rewritten: Buffer | undefined;
        let verifiedName: string | undefined;
        const addr = (a: string | undefined) => {
          if (a === undefined) return undefined;
          const at = a.lastIndexOf('@');
          return { address: a, local: at < 0 ? a.toLowerCase() : a.slice(0, at).toLowerCase(), domain: at < 0 ? '' : a.slice(at + 1).toLowerCase(), params: {} };
        };
        const ctx: HookContext = {
          hook, session: full, log: quietLog, mailFrom: addr(extra.mailFrom), recipients: [], rcpt: addr(extra.rcpt), message: extra.message,
          findings, services, state, connectionState,
          addFinding(symbol, score, detail) { const f = { symbol, score, detail, plugin: def.name }; findings.push(f); added.push(f); },
          addHeader(name, value) { headers.push({ name, value }); },
          removeHeader() {},
          async rewriteMessage(raw) { rewritten = raw; },
          discardRecipient() { throw new Error('not in this test'); },
          redirectRecipient() { throw new Error('not in this test'); },
          addRecipient() { throw new Error('not in this test'); },
          setVerifiedClientName(name) { verifiedName = name; return true; },
        };
        const t0 = Date.now();
        const outcome = handler ? (await handler(ctx)) ?? undefined : undefined;
        return { outcome, findings: added, headers, ms: Date.now() - t0, rewritten, verifiedName };
      },
    };
  };
  return { dns, connect, close: () => instance.close?.() };
}
