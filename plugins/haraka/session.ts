// Mailmoat's hooks driving Haraka's: the one table of which Haraka hooks run in which Mailmoat hook, and each phase.
import { finalActionOutcome, outcome, type HookContext, type HookHandlers, type HookName, type Outcome } from '../../core/index.ts';
import { constants, haraka, type Any } from './cjs.ts';
import { Connection } from './connection.ts';
import { discardAsked } from './discard.ts';
import { recordFindings, type FindingOptions } from './findings.ts';
import type { LoadedFolder } from './loader.ts';
import { SINK, type LogSink } from './log.ts';
import { applyBodyEdits, applyHeaderEdits, feedMessage, trackHeaderEdits } from './message.ts';
import { replyText, toOutcome } from './reply.ts';
import { runHook, type HookResult } from './runner.ts';

/**
 * The one mapping of Haraka hooks onto Mailmoat's. `helo` runs Haraka's helo or ehlo by the verb used; `rcpt_ok`
 * runs inside rcptTo once the rcpt chain accepted or the recipient is in one of the gateway's domains; queue_ok observes the verdict; init_master runs at creation.
 */
export const HOOK_MAP: Readonly<Record<HookName, readonly string[]>> = {
  connect: ['connect_init', 'lookup_rdns', 'connect'],
  helo: ['helo', 'ehlo'],
  capabilities: ['capabilities'],
  mailFrom: ['reset_transaction', 'mail'],
  rcptTo: ['rcpt', 'rcpt_ok'],
  dataStart: ['data'],
  data: ['data_post'],
  afterVerdict: ['queue_ok', 'reset_transaction'],
  noop: ['noop'],
  vrfy: ['vrfy'],
  rset: ['rset', 'reset_transaction'],
  unrecognizedCommand: ['unrecognized_command'],
  quit: ['quit'],
  disconnect: ['reset_transaction', 'disconnect'],
};

/**
 * Haraka hooks a Mailmoat hook may run besides its HOOK_MAP entry: a trusted proxy's EHLO before XCLIENT runs
 * connect_init (helo below), so its time counts in that hook's deadline.
 */
export const ALSO_RUN: Readonly<Partial<Record<HookName, readonly string[]>>> = { helo: ['connect_init'] };

/** Hooks the shim offers only when a Haraka plugin of the folder has them, so the gateway skips them otherwise. */
const ON_DEMAND: readonly HookName[] = ['capabilities', 'noop', 'vrfy', 'rset', 'unrecognizedCommand', 'quit'];

export interface SessionOptions extends FindingOptions {
  sink: LogSink;
}

const CONN = 'harakaConnection';
/** The login the shim put in `notes.auth_user`, so that it can take it back out. */
const AUTH_GIVEN = 'harakaAuthUser';
/** The verified client name the shim gave as `remote.host`, so that a name is given once and a later one replaces it. */
const NAME_GIVEN = 'harakaVerifiedName';
/** The address connect_init last ran for (a trusted proxy's, at its EHLO before the connect hooks). */
const INIT_FOR = 'harakaConnectInitFor';
function format(a: Any): string {
  return a?.format ? a.format() : '';
}

/**
 * The params Haraka passes to unrecognized_command: `[verb, rest]`, or `[line]` when its pattern
 * /^([^ ]*)( +(.*))?$/ does not match: a line break (CR, LF, U+2028, U+2029) after the first space.
 */
export function unrecognizedParams(line: string): string[] {
  // Haraka's pattern backtracks quadratically on many spaces before a line break; this one always matches at once.
  const [, verb, rest = ''] = /^([^ ]*)(?: +([\s\S]*))?$/.exec(line)!;
  return /[\r\n\u2028\u2029]/.test(rest) ? [line] : [verb, rest];
}

/**
 * Makes `txn.rcpt_to` hold what the core's transaction holds: a later native plugin may have refused a recipient the
 * rcpt hooks took, and a redirect's targets may have been cut by de-duplication or refused for the recipient limit.
 * Address objects a plugin made are kept where they still match, since plugins may have hung their own fields on them.
 */
function syncRecipients(txn: Any, ctx: HookContext): void {
  const { Address } = haraka();
  const have = new Map<string, Any>();
  for (const a of txn.rcpt_to as Any[]) {
    const k = String(a?.address ?? '').toLowerCase();
    if (!have.has(k)) have.set(k, a);
  }
  txn.rcpt_to = ctx.recipients.map((r) => have.get(r.address.toLowerCase()) ?? new Address(`<${r.address}>`));
}

/**
 * A rcpt plugin that replaced or added entries of `txn.rcpt_to` for this recipient (haraka-plugin-aliases pops it and
 * pushes the alias's targets) asks, in Haraka, for the mail to go there; the core is told so, and decides.
 */
function redirectIfRewritten(ctx: HookContext, txn: Any, before: number, rcpt: Any): void {
  const mine: Any[] = (txn.rcpt_to as Any[]).slice(before);
  const targets = mine.map((a) => String(a?.address ?? a));
  const original = ctx.rcpt!.address.toLowerCase();
  if (mine.length === 1 && (mine[0] === rcpt || targets[0].toLowerCase() === original)) return;
  if (mine.length === 0) {
    // A pop without a push: Haraka would deliver to nobody; Mailmoat drops recipients only in data (discardRecipient).
    ctx.log.warn('haraka rcpt plugin removed the recipient from transaction.rcpt_to; it is kept', { to: [ctx.rcpt!.address] });
    return;
  }
  ctx.redirectRecipient(targets, 'haraka rcpt hook rewrote transaction.rcpt_to');
}

/** `MAIL FROM:<a@b> SIZE=10`: the command line as the core parsed it, for `connection.current_line`. */
function addressLine(command: string, a: { address: string; params: Record<string, string | true> }): string {
  const params = Object.entries(a.params).map(([k, v]) => (v === true ? k : `${k}=${v}`));
  return [`${command}:<${a.address}>`, ...params].join(' ');
}

export function createHooks(folder: LoadedFolder, opts: SessionOptions): HookHandlers {
  const { registry } = folder;
  const run = (hook: string, conn: Connection, params?: Any): Promise<HookResult> => runHook(registry, hook, conn, params);
  const addReceived = folder.config.get('connection.ini', { booleans: ['+headers.add_received'] }).headers?.add_received !== false;
  const cleanAuthResults = folder.config.get('connection.ini', { booleans: ['+headers.clean_auth_results'] }).headers?.clean_auth_results !== false;

  /** The connection of this session, created on first use and kept in step with the session (XCLIENT, TLS, AUTH). */
  function connectionOf(ctx: HookContext): Connection {
    let conn = ctx.connectionState[CONN] as Connection | undefined;
    const s = ctx.session;
    if (!conn) {
      conn = new Connection(folder, { logger: ctx.log, level: opts.sink.level }, {
        remote: { ip: s.remote.ip, port: s.remote.port, host: s.remote.hostname },
        local: { ip: s.local.ip, port: s.local.port, host: ctx.services.hostname },
        relaying: s.trusted, tls: s.tls,
      });
      ctx.connectionState[CONN] = conn;
    } else if (conn.remote.ip !== s.remote.ip) {
      // A client named by XCLIENT or PROXY does not inherit the proxy's right to relay (Haraka's xclient plugin).
      conn.set('remote.ip', s.remote.ip);
      conn.remote.port = s.remote.port;
      conn.remote.host = s.remote.hostname ?? null;
      // Taken from `host` again when the connect hooks run for the new client.
      conn.remote.info = null;
      conn._relaying = s.trusted;
      delete ctx.connectionState[NAME_GIVEN];
    }
    // Haraka names the client by its own reverse lookup; a name a plugin confirmed leads back to the client (the ptr
    // plugin's forward-confirmed PTR), so it is given instead, as the core writes it in Received. It may come at helo
    // or MAIL, after the connect hooks: `info`, taken from `host` at connect, follows it.
    const verified = s.remote.verifiedName;
    if (verified && verified !== ctx.connectionState[NAME_GIVEN]) {
      if (conn.remote.info && conn.remote.info === conn.remote.host) conn.remote.info = verified;
      conn.remote.host = verified;
      ctx.connectionState[NAME_GIVEN] = verified;
    }
    // The hook's own logger: in a transaction it names the message's qid as well as the connection's cid.
    (conn[SINK] as LogSink).logger = ctx.log;
    if (s.tls && !conn.tls.enabled) conn.tls.enabled = true;
    // AUTH happens outside a transaction, so it is the connection's relaying (Haraka's auth_base). A login the core
    // later drops (an XCLIENT that names another client) is dropped here too, or plugins would go on seeing it.
    const given = ctx.connectionState[AUTH_GIVEN] as string | undefined;
    if (s.user && s.user !== given) { conn.notes.auth_user = s.user; conn._relaying = true; ctx.connectionState[AUTH_GIVEN] = s.user; }
    else if (!s.user && given) {
      if (conn.notes.auth_user === given) delete conn.notes.auth_user;
      conn._relaying = s.trusted;
      delete ctx.connectionState[AUTH_GIVEN];
    }
    return conn;
  }

  /**
   * The connection for a command hook, with the command's line as Haraka's `current_line` (vrfy gets no other
   * argument; karma reads MAIL's and RCPT's). The core gives every command hook the line as sent; `line`, rebuilt
   * from what the core parsed, stands in only where a hook has none.
   */
  function commandConnection(ctx: HookContext, line?: string): Connection {
    const conn = connectionOf(ctx);
    conn.current_line = ctx.command?.line ?? line ?? null;
    return conn;
  }

  /** A connection refused at connect keeps refusing every command, like Haraka's LOOP state. */
  function looping(conn: Connection): Outcome | undefined {
    return conn.loop as Outcome | undefined;
  }

  /** Haraka's helo or ehlo hooks for the greeting `host`. */
  async function hello(conn: Connection, verb: 'helo' | 'ehlo', host: string): Promise<Outcome | undefined> {
    await conn.reset_transaction();
    conn.hello = { verb: verb.toUpperCase(), host };
    conn.results.add({ name: 'helo' }, conn.hello);
    const o = toOutcome(verb, await run(verb, conn, conn.hello.host));
    // As in Haraka: refused, the greeting is forgotten; `esmtp` turns true after an accepted EHLO, so the hook sees
    // the protocol used before (helo.checks' proto_mismatch compares the two), and a later HELO does not clear it.
    if (o) { conn.hello.verb = null; conn.hello.host = null; }
    else if (verb === 'ehlo') conn.esmtp = true;
    return o;
  }

  const hooks: HookHandlers = {
    async connect(ctx) {
      const conn = connectionOf(ctx);
      conn.results.add({ name: 'remote' }, conn.remote);
      conn.results.add({ name: 'local' }, conn.local);
      // Not again for a proxy that went on as the client: its EHLO ran connect_init already (helo below).
      if (ctx.connectionState[INIT_FOR] !== conn.remote.ip) await run('connect_init', conn);
      ctx.connectionState[INIT_FOR] = conn.remote.ip;
      const rdns = await run('lookup_rdns', conn);
      let o = toOutcome('lookup_rdns', rdns);
      if (!o) {
        if (rdns.retval === constants.ok) conn.remote.host = rdns.msg || 'Unknown';
        else if (!conn.remote.host) {
          conn.remote.host = await ctx.services.dns.reverse(conn.remote.ip).then((n) => n[0] ?? 'Unknown',
            (e: Any) => (e?.code === 'NXDOMAIN' || e?.code === 'NODATA' ? 'NXDOMAIN' : 'DNSERROR'));
        }
        conn.remote.info ||= conn.remote.host;
        o = toOutcome('connect', await run('connect', conn));
      }
      if (o && o.action !== 'disconnect') conn.loop = o;
      return o;
    },

    async helo(ctx) {
      const s = ctx.session as Any;
      const verb = s.esmtp === false || s.heloVerb === 'HELO' ? 'helo' : 'ehlo';
      const conn = commandConnection(ctx, `${verb.toUpperCase()} ${s.helo ?? ''}`.trim());
      if (looping(conn)) return looping(conn);
      const host = (s.helo ?? '').split(/\s+/)[0];
      // A trusted proxy's EHLO before XCLIENT comes before the core's connect hooks, which wait for the client to be
      // named; Haraka's plugins count on connect_init having run before any ehlo (notes it sets there), and Haraka
      // with its xclient plugin runs it for the proxy's connection first. So does the shim, once per address.
      if (ctx.connectionState[INIT_FOR] !== conn.remote.ip) {
        ctx.connectionState[INIT_FOR] = conn.remote.ip;
        await run('connect_init', conn);
      }
      return hello(conn, verb, host);
    },

    async mailFrom(ctx) {
      const conn = commandConnection(ctx, addressLine('MAIL FROM', ctx.mailFrom!));
      if (looping(conn)) return looping(conn);
      const { Address } = haraka();
      await conn.init_transaction();
      const txn = conn.transaction;
      trackHeaderEdits(txn);
      const from = ctx.mailFrom!;
      txn.mail_from = new Address(`<${from.address}>`);
      const params: Record<string, string | null> = {};
      for (const [k, v] of Object.entries(from.params)) params[k.toUpperCase()] = v === true ? null : v;
      const r = await run('mail', conn, [txn.mail_from, params]);
      const o = toOutcome('mail', r, format(txn.mail_from));
      const addr = from.address;
      txn.results.add({ name: 'mail_from' }, { action: o ? (o.action === 'reject' ? 'reject' : 'tempfail') : 'accept', code: constants.translate(r.retval), address: addr });
      if (o) await conn.reset_transaction();
      return o;
    },

    async rcptTo(ctx) {
      const conn = commandConnection(ctx, addressLine('RCPT TO', ctx.rcpt!));
      if (looping(conn)) return looping(conn);
      const txn = conn.transaction;
      if (!txn) return undefined;
      const { Address } = haraka();
      syncRecipients(txn, ctx);
      const rcpt = new Address(`<${ctx.rcpt!.address}>`);
      const params: Record<string, string | null> = {};
      for (const [k, v] of Object.entries(ctx.rcpt!.params)) params[k.toUpperCase()] = v === true ? null : v;
      const before = txn.rcpt_to.length;
      txn.rcpt_to.push(rcpt);
      let r = await run('rcpt', conn, [rcpt, params]);
      if (r.retval === constants.cont && conn.relaying) r = { ...r, retval: constants.ok };
      let o = toOutcome('rcpt', r, format(rcpt));
      if (!o && r.retval === constants.ok) {
        const ok = await run('rcpt_ok', conn, rcpt);
        o = toOutcome('rcpt_ok', ok, format(rcpt)) ?? outcome.accept(typeof (ok.msg ?? r.msg) === 'string' ? (ok.msg ?? r.msg) : undefined);
      } else if (!o && ctx.services.isLocalDomain(ctx.rcpt!.domain)) {
        // No rcpt plugin vouched for it, but the core's relay rule takes a local domain (Haraka's rcpt_to.in_host_list
        // would have said OK): rcpt_ok runs now, so that its refusal (greylist's DENYSOFT) answers this RCPT, and the
        // chain goes on to the core, which accepts it.
        o = toOutcome('rcpt_ok', await run('rcpt_ok', conn, rcpt), format(rcpt));
      }
      const action = !o || o.action === 'accept' ? 'accept' : o.action === 'reject' ? 'reject' : 'tempfail';
      txn.rcpt_count[action]++;
      conn.rcpt_count[action]++;
      txn.results.push({ name: 'rcpt_to' }, { recipient: { address: rcpt.address, action } });
      // CONT without relaying: Haraka would answer 550; Mailmoat's own relay rules decide instead.
      if (o && o.action !== 'accept') { txn.rcpt_to.splice(before); return o; }
      redirectIfRewritten(ctx, txn, before, rcpt);
      return o;
    },

    async dataStart(ctx) {
      const conn = commandConnection(ctx, 'DATA');
      if (looping(conn)) return looping(conn);
      if (!conn.transaction) return undefined;
      syncRecipients(conn.transaction, ctx);
      return toOutcome('data', await run('data', conn));
    },

    async data(ctx) {
      const conn = connectionOf(ctx);
      const txn = conn.transaction;
      if (!txn || !ctx.message) return undefined;
      syncRecipients(txn, ctx);
      await feedMessage(conn, ctx, addReceived);
      if (cleanAuthResults) conn.auth_results_clean();
      const ar = conn.auth_results();
      if (ar) txn.add_header('Authentication-Results', ar);
      txn.data_post_start = Date.now();
      const r = await run('data_post', conn);
      txn.data_post_delay = (Date.now() - txn.data_post_start) / 1000;
      const ar2 = conn.auth_results();
      if (ar2) {
        txn.remove_header('Authentication-Results');
        txn.add_leading_header('Authentication-Results', ar2);
      }
      recordFindings(ctx, [conn.results, txn.results], opts);
      const o = toOutcome('data_post', r);
      if (o) {
        txn.msg_status = o.action === 'reject' ? 'rejected' : 'deferred';
        conn.msg_count[o.action === 'reject' ? 'reject' : 'tempfail']++;
        return o;
      }
      await applyBodyEdits(txn, ctx);
      applyHeaderEdits(txn, ctx);
      // Haraka's queue step, where queue/discard (or aliases, which inherits it) drops the whole message on a note
      // set earlier (aliases' `drop` in rcpt): the client still hears 250, and no recipient gets the message.
      const discard = await discardAsked(registry, conn);
      if (discard) {
        ctx.log.info('haraka plugin asked to discard the message', { haraka_plugin: discard.plugin, via: discard.via });
        return finalActionOutcome(ctx, { kind: 'discard', text: discard.via }, `haraka plugin ${discard.plugin}`);
      }
      return undefined;
    },

    async afterVerdict(ctx) {
      const conn = ctx.connectionState[CONN] as Connection | undefined;
      const txn = conn?.transaction;
      if (!conn || !txn) return;
      const v = ctx.verdict?.action;
      if (v === 'accept' || v === 'add_header' || v === 'quarantine') {
        txn.msg_status = 'accepted';
        conn.msg_count.accept++;
        await run('queue_ok', conn, `Message Queued (${txn.uuid})`);
      } else {
        txn.msg_status = v === 'tempfail' ? 'deferred' : 'rejected';
      }
      await conn.reset_transaction();
    },

    async capabilities(ctx) {
      const conn = commandConnection(ctx, `EHLO ${ctx.session.helo ?? ''}`.trim());
      const keywords = ctx.capabilities!;
      // Haraka's list starts with the greeting line; plugins push keywords after it (or replace the array).
      conn.capabilities = [`${conn.local.host} Hello ${conn.remote.host ?? conn.remote.ip}`, ...keywords];
      await run('capabilities', conn);
      const edited: string[] = Array.isArray(conn.capabilities) ? Array.from(conn.capabilities as ArrayLike<unknown>, String).slice(1) : keywords;
      keywords.splice(0, keywords.length, ...edited);
      conn.esmtp = true;
    },

    async noop(ctx) {
      return toOutcome('noop', await run('noop', commandConnection(ctx)));
    },

    async vrfy(ctx) {
      const r = await run('vrfy', commandConnection(ctx));
      if (r.retval === constants.ok) return { action: 'accept', code: 250, text: replyText(r.msg, 'User OK') };
      return toOutcome('vrfy', r);
    },

    async rset(ctx) {
      const conn = commandConnection(ctx);
      await run('rset', conn); // Haraka ignores the answer: always 250, then the transaction goes
      await conn.reset_transaction();
    },

    async unrecognizedCommand(ctx) {
      const conn = commandConnection(ctx);
      const line = ctx.command?.line ?? '';
      const replies: Array<{ code: number; msg: Any }> = [];
      conn.captured = replies;
      let r: HookResult;
      try {
        r = await run('unrecognized_command', conn, unrecognizedParams(line));
      } finally {
        conn.captured = null;
      }
      if (r.retval === constants.ok) {
        // OK: the plugin answered with connection.respond(); Mailmoat writes that answer (or a plain 250).
        const last = replies.at(-1);
        if (!last) return outcome.accept();
        const text = replyText(last.msg) ?? '';
        if (last.code < 400) return { action: 'accept', code: last.code, text };
        return last.code < 500 ? outcome.tempfail(text, { code: last.code }) : outcome.reject(text, { code: last.code });
      }
      const o = toOutcome('unrecognized_command', r);
      if (!o) conn.errors++;
      return o;
    },

    async quit(ctx) {
      const r = await run('quit', commandConnection(ctx));
      // Haraka always answers 221, with the plugin's text when it gave one.
      const text = replyText(r.msg);
      return text ? { action: 'accept', code: 221, text } : undefined;
    },

    async disconnect(ctx) {
      const conn = ctx.connectionState[CONN] as Connection | undefined;
      if (!conn) return;
      conn.disconnect();
      await conn.reset_transaction();
      conn.results.add({ name: 'disconnect' }, { duration: (Date.now() - conn.start_time) / 1000 });
      await run('disconnect', conn);
      conn.state = constants.connection.state.DISCONNECTED;
    },
  };
  for (const name of ON_DEMAND) if (!HOOK_MAP[name].some((h) => registry.has(h))) delete hooks[name];
  return hooks;
}
