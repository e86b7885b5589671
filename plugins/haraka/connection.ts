// Haraka's `connection` object, kept in step with Mailmoat's session; the class is named Connection because plugins check.
import { randomUUID } from 'node:crypto';
import { constants, haraka, type Any } from './cjs.ts';
import { watchDiscardNote } from './discard.ts';
import { addLogMethods, SINK, type LogSink } from './log.ts';
import { harakaServer } from './server.ts';
import { runHook } from './runner.ts';
import type { LoadedFolder } from './loader.ts';

const STATE = constants.connection.state;
const FOLDER = Symbol('haraka.folder');

export interface ConnectionInit {
  remote: { ip: string; port: number; host?: string };
  local: { ip: string; port: number; host: string };
  relaying: boolean;
  tls: boolean;
}

/**
 * A result a plugin records after the connection's disconnect hooks ran (a timer that outlived the client) judges a
 * client nobody judges any more, and may be false: early_talker's connect_init pause ends after the front door has
 * already refused an early talker, and then records `pass` for it. Such results are dropped, with a debug line.
 */
function ignoreLateResults(results: Any, ended: () => boolean): void {
  for (const method of ['add', 'incr', 'push'] as const) {
    const own = results[method].bind(results);
    results[method] = (plugin: Any, obj: Any) => {
      if (!ended()) return own(plugin, obj);
      results.conn?.logdebug?.('result recorded after the connection ended: ignored', { plugin: plugin?.name ?? String(plugin) });
      return undefined;
    };
  }
}

export class Connection {
  [key: string | symbol]: Any;

  constructor(folder: LoadedFolder, sink: LogSink, init: ConnectionInit) {
    const { Notes, ResultStore } = haraka();
    Object.defineProperty(this, FOLDER, { value: folder });
    Object.defineProperty(this, SINK, { value: sink });
    this.uuid = randomUUID().toUpperCase();
    this.remote = { ip: null, port: init.remote.port, host: init.remote.host ?? null, info: null, closed: false, is_private: false, is_local: false };
    this.set('remote.ip', init.remote.ip);
    this.local = { ip: init.local.ip, port: init.local.port, host: init.local.host, info: 'Haraka' };
    this.hello = { verb: null, host: null };
    this.tls = { enabled: init.tls, advertised: false, verified: false, cipher: {} };
    this.proxy = { allowed: false, ip: null, type: null, timer: null };
    this.notes = new Notes();
    watchDiscardNote(this.notes, this);
    this.results = new ResultStore(this);
    ignoreLateResults(this.results, () => this.state >= STATE.DISCONNECTED);
    this.transaction = null;
    this._relaying = init.relaying;
    this.capabilities = null;
    this.captured = null as null | Array<{ code: number; msg: Any }>;
    this.esmtp = false;
    this.pipelining = false;
    this.early_talker = false;
    this.current_line = null;
    this.hook = null;
    this.state = STATE.CMD;
    this.start_time = Date.now();
    this.tran_count = 0;
    this.rcpt_count = { accept: 0, tempfail: 0, reject: 0 };
    this.msg_count = { accept: 0, tempfail: 0, reject: 0 };
    this.errors = 0;
    this.last_response = null;
    this.last_reject = '';
    this.totalbytes = 0;
    this.encoding = 'utf8';
    const server = harakaServer();
    this.server = { notes: server.notes, cluster: undefined, has_tls: false, address: () => ({ address: init.local.ip, port: init.local.port }) };
    // Mailmoat owns the socket; plugins that pause it (attachment backpressure) pause the message feed instead.
    this.client = { pause: () => this.pause(), resume: () => this.resume(), end: () => {}, destroy: () => {} };
    this._paused = null as null | { promise: Promise<void>; release: () => void };
  }

  /** Haraka's rule: the transaction's value once something set one in it, else the connection's (relay ACL, AUTH). */
  get relaying(): boolean {
    const txn = this.transaction;
    return Boolean(txn && '_relaying' in txn ? txn._relaying : this._relaying);
  }
  set relaying(value: boolean) {
    if (this.transaction) this.transaction._relaying = value;
    else this._relaying = value;
  }

  set(...args: Any[]): void {
    const value = args.pop();
    const path = args.length === 1 ? String(args[0]).split('.') : args.map(String);
    if (path.some((p: string) => ['__proto__', 'constructor', 'prototype'].includes(p))) return;
    let obj: Any = this;
    for (const key of path.slice(0, -1)) {
      if (typeof obj[key] !== 'object' || obj[key] === null) obj[key] = {};
      obj = obj[key];
    }
    obj[path[path.length - 1]] = value;
    if (path.join('.') === 'remote.ip' && value) {
      const { netUtils } = haraka();
      this.remote.is_local = netUtils.is_local_ip(value);
      this.remote.is_private = this.remote.is_local || netUtils.is_private_ip(value);
    }
  }

  get(path: string): Any {
    return String(path).split('.').reduce((o: Any, k) => (o == null ? undefined : o[k]), this);
  }

  /**
   * Mailmoat writes the replies; a plugin's own respond() is logged and its callback run. While `captured` is set
   * (unrecognized_command, whose OK means "I answered"), the reply is kept for the gateway to send.
   */
  respond(code: number, msg: Any, cb?: () => void): void {
    const text = typeof msg === 'object' && msg?.constructor?.name === 'DSN' ? msg.reply : Array.isArray(msg) ? msg.join(' ') : String(msg ?? '');
    this.last_response = `${code} ${text}`;
    if (code >= 400) this.last_reject = text;
    if (this.captured) this.captured.push({ code, msg });
    this.logdebug(`respond (handled by the gateway): ${code} ${text}`);
    cb?.();
  }

  loop_respond(code: number, msg: Any): void {
    this.state = STATE.LOOP;
    this.respond(code, msg);
  }

  disconnect(): void {
    if (this.state < STATE.DISCONNECTING) this.state = STATE.DISCONNECTING;
  }

  fail(err?: Any): void {
    if (err) this.logwarn(err);
    this.disconnect();
  }

  pause(): void {
    if (this._paused) return;
    let release!: () => void;
    const promise = new Promise<void>((r) => { release = r; });
    this._paused = { promise, release };
  }

  resume(): void {
    const p = this._paused;
    this._paused = null;
    p?.release();
  }

  tran_uuid(): string {
    this.tran_count++;
    return `${this.uuid}.${this.tran_count}`;
  }

  /**
   * Runs reset_transaction (if a transaction exists) and drops it. Synchronous (returns undefined) when no plugin
   * hooks reset_transaction, so init_transaction() leaves a transaction at once, as test fixtures expect.
   */
  reset_transaction(cb?: () => void): Promise<void> | undefined {
    const txn = this.transaction;
    const drop = () => {
      this.results.add({ name: 'reset' }, { duration: (Date.now() - this.start_time) / 1000 });
      try { txn.message_stream?.destroy(); } catch { /* already gone */ }
      this.transaction = null;
    };
    if (!txn || txn.resetting) { cb?.(); return undefined; }
    txn.resetting = true;
    if (!folderOf(this).registry.has('reset_transaction')) { drop(); cb?.(); return undefined; }
    return runHook(folderOf(this).registry, 'reset_transaction', this, () => {}).then(() => { drop(); cb?.(); });
  }

  init_transaction(cb?: () => void): Promise<void> | undefined {
    const make = () => {
      const { Transaction, ResultStore } = haraka();
      this.transaction = new Transaction(this.tran_uuid(), folderOf(this).config?.get('connection.ini') ?? {});
      this.transaction.results = new ResultStore(this);
      watchDiscardNote(this.transaction.notes, this);
      cb?.();
    };
    const pending = this.reset_transaction();
    if (!pending) { make(); return undefined; }
    return pending.then(make);
  }

  auth_results(message?: string): string {
    const { utils } = haraka();
    const txn = this.transaction;
    this.notes.authentication_results ??= [];
    if (txn?.notes && !txn.notes.authentication_results) txn.notes.authentication_results = [];
    if (message) (txn?.notes ? txn.notes.authentication_results : this.notes.authentication_results).push(utils.sanitize(message));
    const all = [utils.sanitize(this.local.host), ...this.notes.authentication_results, ...(txn?.notes?.authentication_results ?? [])];
    return all.length === 1 ? '' : all.join(';\r\n\t');
  }

  auth_results_clean(): void {
    const ars = this.transaction.header.get_all('Authentication-Results');
    if (!ars.length) return;
    for (const v of ars) this.transaction.add_header('Original-Authentication-Results', v);
    this.transaction.remove_header('Authentication-Results');
  }

  get_remote(prop: string): string {
    const host = this.remote.host;
    if (!host || host === 'NXDOMAIN' || host === 'DNSERROR') return `[${this.remote.ip}]`;
    return `${this.remote[prop] ?? host} [${this.remote.ip}]`;
  }

  received_line(): string {
    const { utils } = haraka();
    let smtp = this.hello.verb === 'EHLO' ? 'ESMTP' : 'SMTP';
    if (this.tls.enabled) smtp += 'S';
    if (this.authheader) smtp += 'A';
    let line = `from ${this.hello.host} (${this.get_remote('info')})\r\n\tby ${this.local.host} (${this.local.info}) with ${smtp} id ${this.transaction.uuid}\r\n\tenvelope-from ${this.transaction.mail_from.format()}`;
    if (this.authheader) line += ` ${this.authheader}`;
    return `${line};\r\n\t${utils.date_to_str(new Date())}`;
  }

  get_capabilities(): string[] { return []; }

  setTLS(obj: Any): void {
    this.hello.host = undefined;
    this.tls = { ...this.tls, ...obj, enabled: true };
    this.notes.tls = { authorized: obj?.verified, authorizationError: obj?.verifyError, cipher: obj?.cipher, peerCertificate: obj?.peerCertificate };
  }
}
addLogMethods(Connection.prototype);

/** The Haraka folder a connection belongs to. */
export function folderOf(conn: Connection): LoadedFolder {
  return conn[FOLDER];
}
