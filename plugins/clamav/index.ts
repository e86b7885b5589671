// ClamAV virus scanning: every spooled message goes to clamd (or a command-line scanner) before the gateway answers.
//
// It fails safe: when the scanner cannot give a verdict, the message is deferred (451) unless the admin chose
// to let it through with a warning header. An unreachable clamd never disables the plugin, because a disabled
// plugin would pass mail unscanned.
import { definePlugin, outcome, type HookContext, type Outcome, type MessageView, type PluginSetup } from '../../core/index.ts';
import { configSchema, largeSlots, oversizeWarning, scanBudget, type ClamavConfig } from './config.ts';
import { Limiter } from './limiter.ts';
import { clamdTarget, createClamdClient, createScanner, type Scanner } from './scanner.ts';
import { ClamdHealth } from './health.ts';
import { ScanError } from './scan-result.ts';
import { noticeText, stripInfected } from './strip.ts';

/** Keeps a virus name safe for a reply line and a header. */
function clean(name: string): string {
  return name.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
}

function asScanError(err: unknown): ScanError {
  return err instanceof ScanError ? err : new ScanError('error', (err as Error)?.message ?? String(err));
}

/**
 * The time left of one message's scan budget. A second attempt (after a connection closed mid-stream) or a strip
 * would otherwise run past the entry's hook timeout, and the core's 451 4.3.0 would answer in place of `on_error`.
 */
class Deadline {
  private readonly at: number;
  private readonly budget: { ms: number; why: string };

  constructor(budget: { ms: number; why: string }) {
    this.budget = budget;
    this.at = performance.now() + budget.ms;
  }

  /** `work`, or a timeout ScanError once the budget is spent; work cut off this way finishes (or times out) unheard. */
  bound<T>(work: Promise<T>): Promise<T> {
    const left = this.at - performance.now();
    work.catch(() => {});
    if (left <= 0) return Promise.reject(this.spent());
    let timer: NodeJS.Timeout | undefined;
    const cut = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(this.spent()), left); });
    return Promise.race([work, cut]).finally(() => clearTimeout(timer));
  }

  private spent(): ScanError {
    return new ScanError('timeout', `no verdict within ${this.budget.ms} ms (${this.budget.why})`);
  }
}

/** The plugin's counter for a scan without a verdict, by the kind its `virus scan failed` line gives: `scan_failures_timeout`. */
function failureCounter(err: ScanError): string {
  return `scan_failures_${err.kind.replace(/-/g, '_')}`;
}

class ClamavCheck {
  private readonly cfg: ClamavConfig;
  private readonly scanner: Scanner;
  private readonly limiter: Limiter;
  private readonly metrics: PluginSetup['metrics'];

  constructor(cfg: ClamavConfig, scanner: Scanner, metrics: PluginSetup['metrics']) {
    this.cfg = cfg;
    this.scanner = scanner;
    this.limiter = new Limiter(cfg.max_concurrent, largeSlots(cfg));
    this.metrics = metrics;
  }

  /**
   * Runs scanner work in a bounded slot, within the message's budget; waiting past `max_wait` counts as a timeout.
   * A message of `large_message_size` or more waits for one of the large share of the slots.
   */
  private slot<T>(deadline: Deadline, size: number, task: () => Promise<T>): Promise<T> {
    const large = size >= this.cfg.large_message_size;
    const busy = () => large
      ? `${this.limiter.largeInFlight} of ${largeSlots(this.cfg)} large_message_slots in use, ${this.limiter.inFlight} of ${this.cfg.max_concurrent} scans in flight`
      : `${this.limiter.inFlight} of ${this.cfg.max_concurrent} scans in flight`;
    return deadline.bound(this.limiter.run(task, this.cfg.max_wait,
      () => new ScanError('timeout', `no free scan slot within ${this.cfg.max_wait} ms (${busy()})`), large));
  }

  /** Whether the scanner answers now; one that does not answer within the budget does not. */
  private answers(deadline: Deadline): Promise<boolean> {
    if (!this.scanner.answers) return Promise.resolve(false);
    return deadline.bound(this.scanner.answers()).catch(() => false);
  }

  async onData(ctx: HookContext): Promise<Outcome | void> {
    const msg = ctx.message;
    if (!msg) return;
    // The header is ours to write: a sender's own copy (a forged `clean` on mail we tag infected, or did not scan)
    // goes, whatever this scan finds. The core strips only X-Mailmoat-* fields, and `header` may be named otherwise.
    ctx.removeHeader(this.cfg.header);
    if (msg.size > this.cfg.max_scan_size) return this.oversize(ctx, msg.size);
    let result;
    const started = performance.now();
    const deadline = new Deadline(scanBudget(this.cfg));
    try {
      result = await this.slot(deadline, msg.size, () => this.scanner.scanMessage(msg));
    } catch (err) {
      let e = asScanError(err);
      // A connection closed mid-stream is a size limit only if it happens again: the clamd behind a balancer that
      // died or reset one connection also leaves a scanner answering PING, and a 552 for that would refuse a clean
      // message for good.
      if (e.kind === 'size-limit' && e.inferred && await this.answers(deadline)) {
        ctx.log.info('clamd closed the connection mid-stream; scanning once more', { error: e.message });
        try {
          result = await this.slot(deadline, msg.size, () => this.scanner.scanMessage(msg));
        } catch (again) {
          e = asScanError(again);
        }
      }
      if (!result) {
        // Only clamd's own refusal is its size limit. A connection closed mid-stream with no reply, for a message
        // within max_scan_size (which the admin keeps at or under StreamMaxLength), is a fault of the network or of
        // the scanner: a 552 would refuse a clean message for good.
        if (e.kind === 'size-limit' && e.inferred) return this.failed(ctx, this.midStreamFault(msg.size, e));
        if (e.kind === 'size-limit' && await this.answers(deadline)) return this.overScannerLimit(ctx, msg.size, e);
        return this.failed(ctx, e);
      }
    }
    if (!result.infected) {
      ctx.log.debug('virus scan clean', { scanner: this.scanner.description, ms: Math.round((performance.now() - started) * 100) / 100 });
      return;
    }
    return this.infected(ctx, msg, result.viruses.map(clean), deadline);
  }

  private oversize(ctx: HookContext, size: number): Outcome | void {
    ctx.log.warn('message too large to scan for viruses', { size, max_scan_size: this.cfg.max_scan_size, on_oversize: this.cfg.on_oversize });
    // Whatever on_oversize does with it, so that a refused message is seen too, not only one let through.
    ctx.addFinding('CLAM_OVERSIZE', 0, `${size} bytes`);
    this.metrics?.inc('oversize');
    if (this.cfg.on_oversize === 'reject') return outcome.reject('Message too large to scan for viruses', { code: 552, enhanced: '5.3.4' });
    if (this.cfg.on_oversize === 'tempfail') return outcome.tempfail('Message too large to scan for viruses now', { code: 452, enhanced: '4.3.1' });
    ctx.addHeader(this.cfg.header, `unscanned; message over ${this.cfg.max_scan_size} bytes`);
  }

  /**
   * clamd refused the stream as over its StreamMaxLength, and still answers, so it did not just go away: the
   * message will never fit, and a retry would only delay the same refusal by days. It goes the way of a message
   * over `max_scan_size`, with a hint to bring the two limits together.
   */
  private overScannerLimit(ctx: HookContext, size: number, err: ScanError): Outcome | void {
    ctx.log.warn('clamd refused the message as over its StreamMaxLength; set max_scan_size at or under that limit', {
      size, max_scan_size: this.cfg.max_scan_size, error: err.message });
    return this.oversize(ctx, size);
  }

  /** The connection closed mid-stream, as a scanner fault, saying how much of the message had gone and what could be meant. */
  private midStreamFault(size: number, err: ScanError): ScanError {
    return new ScanError('error', `${err.message}; ${err.sent ?? '?'} of ${size} bytes sent, within max_scan_size ${this.cfg.max_scan_size}, so taken as a fault `
      + '(were clamd\'s StreamMaxLength below max_scan_size, clamd would refuse with its own reply: keep max_scan_size at or under it)');
  }

  private failed(ctx: HookContext, err: ScanError): Outcome | void {
    ctx.log.warn('virus scan failed', { scanner: this.scanner.description, kind: err.kind, error: err.message, on_error: this.cfg.on_error });
    ctx.addFinding('CLAM_FAIL', 0, err.kind);
    this.metrics?.inc(failureCounter(err));
    if (this.cfg.on_error === 'tempfail') return outcome.tempfail('Virus scan not possible now, try again later', { code: 451, enhanced: '4.7.0' });
    ctx.addHeader(this.cfg.header, `unscanned; scanner ${err.kind}`);
  }

  private async infected(ctx: HookContext, msg: MessageView, viruses: string[], deadline: Deadline): Promise<Outcome | void> {
    const names = viruses.join(', ');
    ctx.addFinding('CLAM_VIRUS', this.cfg.score, names);
    this.metrics?.inc('viruses');
    ctx.log.warn('virus found', { virus: names, action: this.cfg.action, scanner: this.scanner.description });
    switch (this.cfg.action) {
      case 'reject': return this.refuse(names);
      // The recipient's quarantine pages must not hand a virus out: only an administrator releases it.
      case 'quarantine': return outcome.quarantine(`virus ${names}`, { recipientMayRelease: false });
      case 'tag': ctx.addHeader(this.cfg.header, `infected; ${names}`); return;
      case 'strip': return this.strip(ctx, msg, viruses, deadline);
    }
  }

  private refuse(names: string): Outcome {
    return outcome.reject(`Virus found: ${names}`, { code: 554, enhanced: '5.7.1' });
  }

  /**
   * Scans each MIME part alone and replaces the infected ones with a notice. The message is read whole here:
   * it is known to be infected and within `max_scan_size`. When no part can be blamed, or the rewritten
   * message still scans infected (a virus in the headers, a broken MIME structure), it is refused instead.
   */
  private async strip(ctx: HookContext, msg: MessageView, viruses: string[], deadline: Deadline): Promise<Outcome | void> {
    const names = viruses.join(', ');
    let stripped;
    try {
      stripped = await this.slot(deadline, msg.size, async () => {
        const result = await stripInfected(await msg.raw(), (part) => this.scanner.scanBuffer(part),
          (part) => noticeText(this.cfg.notice, { ...part, viruses: part.viruses.map(clean) }), viruses);
        const again = result.removed.length ? await this.scanner.scanBuffer(result.raw) : undefined;
        return { ...result, stillInfected: again?.infected ?? true };
      });
    } catch (err) {
      // The message is known to be infected, so a failure here can never let it through.
      const e = asScanError(err);
      ctx.log.warn('stripping the virus failed', { kind: e.kind, error: e.message });
      ctx.addFinding('CLAM_FAIL', 0, e.kind);
      this.metrics?.inc(failureCounter(e));
      return outcome.tempfail('Virus scan not possible now, try again later', { code: 451, enhanced: '4.7.0' });
    }
    if (stripped.stillInfected) {
      ctx.log.warn('virus could not be stripped, refusing', { virus: names, parts_removed: stripped.removed.length });
      return this.refuse(names);
    }
    await ctx.rewriteMessage(stripped.raw);
    const removedNames = [...new Set(stripped.removed.flatMap((p) => p.viruses.map(clean)))].join(', ');
    ctx.addHeader(this.cfg.header, `stripped; ${removedNames}`);
    ctx.log.info('infected parts stripped', { virus: removedNames, parts: stripped.removed.map((p) => p.filename ?? p.contentType) });
  }
}

/**
 * A client that declares with SIZE= (RFC 1870) a message over max_scan_size, which on_oversize: reject would refuse
 * after its whole transfer, is told so at MAIL FROM, as a server refuses a SIZE over its own limit.
 */
function refuseDeclaredOversize(cfg: ClamavConfig, ctx: HookContext, metrics: PluginSetup['metrics']): Outcome | undefined {
  const declared = Number(ctx.mailFrom?.params.SIZE);
  if (cfg.on_oversize !== 'reject' || !Number.isFinite(declared) || declared <= cfg.max_scan_size) return undefined;
  ctx.log.info('declared size over max_scan_size: refused at MAIL FROM', { size: declared, max_scan_size: cfg.max_scan_size });
  metrics?.inc('oversize');
  return outcome.reject('Message too large to scan for viruses', { code: 552, enhanced: '5.3.4' });
}

export default definePlugin<ClamavConfig>({
  name: 'clamav',
  description: 'Scans each message with ClamAV (clamd INSTREAM) or a command-line scanner; fails safe with 451',
  configSchema,
  // A scan may wait max_wait for a slot, then connect and scan: the hook timeout must leave on_error the last word.
  neededTimeout: (cfg: ClamavConfig) => scanBudget(cfg),
  symbols: {
    CLAM_VIRUS: 'The scanner found a virus; the detail is its name',
    CLAM_FAIL: 'The scanner gave no verdict (unreachable, timeout, error); the detail says which',
    CLAM_OVERSIZE: 'The message was over max_scan_size: refused, deferred or accepted unscanned, as on_oversize says; the detail is its size',
  },
  create(cfg, setup) {
    const scanner = createScanner(cfg, setup.configDir);
    // Said at start and by `moat reload` (a create warning), as check-config says it.
    const oversize = setup.maxMessageSize === undefined ? undefined : oversizeWarning(cfg, setup.maxMessageSize);
    if (oversize) setup.log.warn(oversize);
    if (cfg.scanner === 'clamd') {
      // A start-up probe only for the log, saying what on_error makes of mail while clamd is away.
      const client = createClamdClient(cfg, setup.configDir);
      const meanwhile = cfg.on_error === 'accept' ? 'mail passes unscanned (on_error: accept) until it does' : 'mail will be deferred until it does';
      client.ping().then(
        (ok) => { if (!ok) setup.log.warn('clamd gave an unexpected answer to PING', { clamd: client.address }); },
        (err: Error) => setup.log.warn(`clamd does not answer; ${meanwhile}`, { clamd: client.address, error: err.message }),
      );
    }
    const check = new ClamavCheck(cfg, scanner, setup.metrics);
    const hooks = { mailFrom: (ctx: HookContext) => refuseDeclaredOversize(cfg, ctx, setup.metrics), data: (ctx: HookContext) => check.onData(ctx) };
    // A command-line scanner is started per message: there is no daemon to ask between messages.
    if (cfg.scanner !== 'clamd') return { hooks };
    const health = new ClamdHealth(cfg, clamdTarget(cfg, setup.configDir));
    return { hooks, health: health.check, close: () => health.close() };
  },
});
