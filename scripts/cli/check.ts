// `moat check FILE`: has the running gateway run a message through its live chain, as a client's message would go,
// and prints what each hook answered, every finding, the verdict and the header fields it would add. Nothing is
// queued, relayed, learned or counted. Exit 0 answered (whatever the verdict), 1 not checked, 2 no gateway.
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { NoGatewayError, requestCheck } from '../../core/control/client.ts';
import { Headers, headerEnd, parseHeaderBlock } from '../../core/message/header-block.ts';
import type { CheckReport } from '../../core/smtp/check-transaction.ts';
import { CONFIG_OPTIONS, USAGE_ERROR, fileSystemPath, readCommand } from './args.ts';
import { gatewaySocket } from './reload.ts';

const USAGE = `usage: moat check [--config FILE] [--set data_dir=DIR] FILE|- [--from ADDR] [--to ADDR]… [--ip IP] [--helo NAME] [--user NAME] [--json]
  Has the gateway running on the config's data_dir run the message in FILE (- for stdin) through its live chain, with
  its plugins, dictionaries and config, and prints each hook's outcome, every finding, the score, the verdict, the
  header fields it would add, how plugins changed the message (attachments taken out, a disclaimer), what they
  logged, and whether it would leave DKIM-signed. Nothing is queued, quarantined or relayed, nothing learned or counted.
  The envelope: --from (default: the From header's address), --to (default: the To and Cc headers' addresses),
  --ip, the client's address (default 127.0.0.1; one in relay.networks checks mail from your own network),
  --helo (default: the address literal of --ip, [127.0.0.1]), --user, a login to check as (a user's outgoing mail:
  no password, as only the gateway's own user can reach its control socket, and a check relays nothing).
  Line ends become CRLF, as a mail client sends a file. --json prints the whole report as JSON.
  Exit 0 answered, 1 not checked (an unreadable file, a message over limits.max_message_size), 2 no gateway.`;

const NO_GATEWAY = 2;

/** The addresses of a header field's value: those in angle brackets, else the bare ones. */
function addressesIn(value: string): string[] {
  const bracketed = [...value.matchAll(/<([^<>\s]*@[^<>\s]*)>/g)].map((m) => m[1]);
  if (bracketed.length) return bracketed;
  return [...value.matchAll(/[^\s<>,;:"()]+@[^\s<>,;:"()]+/g)].map((m) => m[0]);
}

/** The envelope a client sending `raw` would most likely give: From's address, and To's and Cc's. */
function envelopeOf(raw: Buffer): { from: string; to: string[] } {
  const end = headerEnd(raw);
  const headers = new Headers(parseHeaderBlock(raw.subarray(0, end < 0 ? raw.length : end).toString('latin1')));
  const from = addressesIn(headers.first('From') ?? '')[0] ?? '';
  const to = [...headers.all('To'), ...headers.all('Cc')].flatMap(addressesIn);
  return { from, to: [...new Set(to)] };
}

/** An address literal for `ip`, the HELO a client without a name of its own gives (RFC 5321 §4.1.3). */
function literalOf(ip: string): string {
  return net.isIPv6(ip) ? `[IPv6:${ip}]` : `[${ip}]`;
}

async function readMessage(arg: string): Promise<Buffer> {
  if (arg !== '-') return readFile(fileSystemPath(arg));
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * What a terminal would act on rather than show, or shows as nothing: C0 controls but tab, C1 controls and DEL (ESC starts a
 * colour, a cursor move, a window title), the line and paragraph separators, bidi marks, embeddings, overrides and
 * isolates (U+202E shows `exe.pdf` for `fdp.exe`), zero-width characters, BOM.
 */
const UNSHOWABLE = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
/** Those JSON leaves as they are: it escapes C0 controls itself, and its own line breaks are not in a string. */
const UNSHOWABLE_IN_JSON = /[\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
/** Written as JSON writes C0 controls (`\u001b`), so a value JSON-quoted below and one shown bare read alike. */
const codeOf = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** Text from the message or its sender, shown as it is but for those characters, each written as `\u202e`. */
const visible = (text: string) => text.replace(UNSHOWABLE, codeOf);

const quoted = (v: unknown) => (typeof v === 'string' && /[\s"]/.test(v) ? JSON.stringify(v) : String(v));

/** A log field as `key=value`, a list as its items joined by commas, as the log's summary line is shown above. */
function fieldText(key: string, v: unknown): string {
  if (Array.isArray(v)) return `${key}=${quoted(v.map(String).join(','))}`;
  return `${key}=${v !== null && typeof v === 'object' ? JSON.stringify(v) : quoted(v)}`;
}

/** Columns padded to their widest cell; the last one is left as it is. */
function table(cells: string[][]): string[] {
  // Escaped before the widths are taken: `\u202e` is six columns wide on the screen.
  const rows = cells.map((r) => r.map(visible));
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ').trimEnd());
}

/** What plugins did to the body of a message that would be accepted: its bytes, and the attachments no longer in them. */
function changesOf(r: CheckReport): string[] {
  if (!r.headers.length) return [];
  if (!r.rewrite) return ['', 'message changes: none (the body leaves as sent)'];
  const w = r.rewrite;
  return ['', 'message changes:', `  rewritten by a plugin: ${w.sentBytes} bytes sent, ${w.leavingBytes} would leave`,
    `  attachments taken out: ${w.attachmentsRemoved.length ? w.attachmentsRemoved.join(', ') : 'none'}`];
}

function printReport(r: CheckReport): void {
  const lines: string[] = [];
  // As the log's summary line reads: the verdict, score, envelope and reply first.
  const s = r.summary;
  const head = s
    ? ['verdict', 'score', 'from', 'to', 'size', 'reply', 'reason'].filter((k) => s[k] !== undefined).map((k) => `${k}=${quoted(Array.isArray(s[k]) ? (s[k] as unknown[]).join(',') : s[k])}`)
    : [`verdict=${r.action}`, `score=${r.score}`, `from=${quoted(r.envelope.from)}`, `to=${r.envelope.to.join(',')}`, `reason=${quoted(r.reason)}`];
  lines.push(`check: ${head.join(' ')}`);
  lines.push(`client: ip=${r.envelope.ip} helo=${r.envelope.helo}${r.envelope.user !== undefined ? ` user=${quoted(r.envelope.user)}` : ''}`, '', 'hooks:');
  lines.push(...table([['HOOK', 'OUTCOME', 'PLUGIN', 'REPLY'], ...r.steps.map((st) => [st.rcpt ? `${st.hook} ${st.rcpt}` : st.hook, st.outcome, st.plugin ?? '-', st.reply])]).map((l) => `  ${l}`));
  lines.push('', `findings (total score ${r.score}):`);
  if (r.findings.length) lines.push(...table([['SYMBOL', 'SCORE', 'PLUGIN', 'DETAIL'], ...r.findings.map((f) => [f.symbol, String(f.score), f.plugin, f.detail ?? ''])]).map((l) => `  ${l}`));
  else lines.push('  (none)');
  lines.push('', `verdict: ${r.action} (${r.reason})`, '', 'headers the gateway would add:');
  lines.push(...(r.headers.length ? r.headers.map((h) => `  ${h.replace(/\n/g, '\n  ')}`) : ['  (none: the message would not be accepted)']));
  if (r.removed.length) lines.push(`headers it would remove: ${r.removed.join(', ')}`);
  lines.push(...changesOf(r), '', 'plugin lines:');
  if (r.pluginLines.length) lines.push(...table([['PLUGIN', 'LEVEL', 'LINE'], ...r.pluginLines.map((p) => [p.plugin, p.level, [p.msg, ...Object.entries(p.fields).map(([k, v]) => fieldText(k, v))].join('  ')])]).map((l) => `  ${l}`));
  else lines.push('  (none)');
  lines.push('', r.dkim.signs ? `dkim: would sign as d=${r.dkim.domain} s=${r.dkim.selector}` : `dkim: would not sign: ${r.dkim.why}`);
  for (const note of r.notes) lines.push(`note: ${note}`);
  // Every line shown as text, whatever field of the report it came from; a header's folds stay line breaks.
  process.stdout.write(lines.join('\n').split('\n').map(visible).join('\n') + '\n');
}

export async function run(argv: string[]): Promise<number> {
  const parsed = readCommand(argv, {
    ...CONFIG_OPTIONS, from: { type: 'string' }, to: { type: 'string', multiple: true }, ip: { type: 'string' }, helo: { type: 'string' }, user: { type: 'string' }, json: { type: 'boolean' },
  }, USAGE);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  if (positionals.length !== 1) { console.error(USAGE); return USAGE_ERROR; }
  let raw: Buffer;
  try { raw = await readMessage(positionals[0]); } catch (e) {
    process.stderr.write(`moat check: cannot read ${positionals[0]}: ${(e as Error).message}\n`);
    return 1;
  }
  const found = await gatewaySocket('check', values, {
    unfound: 'Name the data_dir with --set data_dir=DIR.',
    noSocket: 'send the message through SMTP instead and read the summary line in its log',
  });
  if (typeof found === 'number') return found;
  const fromHeaders = envelopeOf(raw);
  const ip = values.ip ?? '127.0.0.1';
  const req = { message: raw.toString('base64'), from: values.from ?? fromHeaders.from, to: values.to ?? fromHeaders.to, ip, helo: values.helo ?? literalOf(ip), ...(values.user !== undefined ? { user: values.user } : {}) };
  let report: CheckReport;
  try {
    report = await requestCheck(found.sock, req);
  } catch (e) {
    if (e instanceof NoGatewayError) {
      process.stderr.write(`moat check: no gateway is running on ${found.dataDir} (nothing answers on ${found.sock}); nothing was checked\n`);
      return NO_GATEWAY;
    }
    process.stderr.write(`moat check: ${(e as Error).message}\n`);
    return 1;
  }
  // Written as JSON escapes, the same string to a JSON reader.
  if (values.json) process.stdout.write(JSON.stringify(report, null, 2).replace(UNSHOWABLE_IN_JSON, codeOf) + '\n');
  else printReport(report);
  return 0;
}
