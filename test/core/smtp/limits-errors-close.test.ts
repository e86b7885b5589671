// The refusal that reaches limits.max_errors goes out as it is, and `421 4.7.0` follows at once and the gateway closes
// the connection, as Postfix's smtpd does: a client that goes quiet after it does not keep its slot for the idle
// timeout, and commands it pipelined behind the refusal are never run. Each dialogue below stops sending at the
// refusal that reaches the limit and reads until the gateway closes.
import assert from 'node:assert/strict';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { waitFor, waitUntil } from '../../helpers/wait-for.ts';
import { repliesUntilClosed } from './replies-until-closed.ts';

const REFUSE_DATA = path.resolve(import.meta.dirname, 'refuse-data-plugin.ts');
const FAREWELL = '4.7.0 Too many errors, closing connection';
const codes = (replies: SmtpReply[]) => replies.map((r) => r.code);
const MAIL = 'MAIL FROM:<someone@sender.test>';
/** A recipient the client may not relay to: 554 5.7.1, one error each. */
const elsewhere = (n: number) => `RCPT TO:<r${n}@elsewhere.test>`;

/** Sends each command and waits for its reply before the next, checking its code; returns the replies. */
async function oneByOne(d: SmtpDialog, steps: Array<[string, number]>): Promise<SmtpReply[]> {
  const replies: SmtpReply[] = [];
  for (const [line, code] of steps) {
    const r = await d.cmd(line);
    assert.equal(r.code, code, `${line}: ${r.code} ${r.text}`);
    replies.push(r);
  }
  return replies;
}

describe('limits.max_errors closes right after the refusal that reaches it', function () {
  this.timeout(60_000);
  let gw: TestGateway;

  before(async () => {
    gw = await startGateway({ config: {
      limits: { max_errors: 3 },
      plugins: [{ name: 'refuse-data', module: REFUSE_DATA }],
    } });
  });
  after(async () => { await gw?.stop(); });

  /** A session of client `ip` (named by XCLIENT), past its EHLO. */
  async function session(ip: string): Promise<SmtpDialog> {
    const d = await SmtpDialog.connect(gw.port);
    assert.equal((await d.hello({ xclient: { addr: ip } })).code, 250);
    return d;
  }

  /** The replies still owed once the client has stopped sending, up to the gateway's close (which `read` waits for). */
  const rest = (d: SmtpDialog) => repliesUntilClosed(d, 20);

  /** The client's `connection closed` line, once the gateway has written it. */
  const closedLine = (ip: string) => waitFor(`the connection closed line of ${ip}`, () => gw.logs.find((l) => l.msg === 'connection closed' && l.client === ip));

  /** The limit's own line and the closing line both count exactly max_errors: nothing after the limit was judged. */
  async function droppedAtLimit(ip: string): Promise<void> {
    const drops = gw.logs.filter((l) => l.msg === 'too many errors: disconnecting' && l.client === ip);
    assert.deepEqual(drops.map((l) => l.error_count), [3]);
    assert.equal((await closedLine(ip)).error_count, 3);
  }

  /**
   * Client `ip` sends `steps` one at a time, the last reaching the limit, then nothing more: the 421 must come and the
   * gateway close all the same. Returns the replies to the steps.
   */
  async function closesAfter(ip: string, steps: Array<[string, number]>): Promise<SmtpReply[]> {
    const d = await session(ip);
    try {
      const replies = await oneByOne(d, steps);
      assert.deepEqual((await rest(d)).map((r) => `${r.code} ${r.text}`), [`421 ${FAREWELL}`]);
      assert.equal(d.closed, true);
      await droppedAtLimit(ip);
      return replies;
    } finally { await d.quit(); }
  }

  it('sends the 421 after the third refused RCPT without waiting for another command', async () => {
    const replies = await closesAfter('203.0.113.201', [[MAIL, 250], [elsewhere(1), 554], [elsewhere(2), 554], [elsewhere(3), 554]]);
    assert.match(replies[3].text, /^5\.7\.1 Relay access denied/);
  });

  it('keeps the session below the limit', async () => {
    const d = await session('203.0.113.202');
    try {
      // Two errors of three: the session goes on.
      await oneByOne(d, [[MAIL, 250], [elsewhere(1), 554], [elsewhere(2), 554], ['RCPT TO:<user@example.com>', 250], ['NOOP', 250]]);
      assert.equal(d.closed, false);
    } finally { await d.quit(); }
    assert.equal(gw.logs.some((l) => l.msg === 'too many errors: disconnecting' && l.client === '203.0.113.202'), false);
  });

  it('answers pipelined RCPTs in order up to the limit, then the 421, and runs none of the commands behind it', async () => {
    const d = await session('203.0.113.203');
    try {
      d.write([MAIL, elsewhere(1), elsewhere(2), elsewhere(3), elsewhere(4), 'RCPT TO:<user@example.com>', 'NOOP', ''].join('\r\n'));
      const replies = await rest(d);
      assert.deepEqual(codes(replies), [250, 554, 554, 554, 421]);
      assert.equal(replies[4].text, FAREWELL);
      const judged = gw.logs.filter((l) => l.msg === 'recipient refused' && l.client === '203.0.113.203').flatMap((l) => l.to as string[]);
      assert.deepEqual(judged, ['r1@elsewhere.test', 'r2@elsewhere.test', 'r3@elsewhere.test'], 'r4 was never judged');
      await droppedAtLimit('203.0.113.203');
    } finally { await d.quit(); }
  });

  it('closes after the third unknown command, one at a time', async () => {
    await closesAfter('203.0.113.204', [['FROB', 500], ['WIBBLE', 500], ['FROB', 500]]);
  });

  it('closes after the third pipelined unknown command, leaving the NOOP behind it unanswered', async () => {
    const d = await session('203.0.113.205');
    try {
      d.write('FROB\r\nFROB\r\nFROB\r\nFROB\r\nNOOP\r\n');
      const replies = await rest(d);
      assert.deepEqual(codes(replies), [500, 500, 500, 421]);
      assert.match(replies[0].text, /command not recognized/);
      assert.equal(replies[3].text, FAREWELL);
      await droppedAtLimit('203.0.113.205');
    } finally { await d.quit(); }
  });

  it('closes after a DATA refused for want of a recipient (smtp-server\'s 503) that reaches the limit', async () => {
    await closesAfter('203.0.113.206', [[MAIL, 250], [elsewhere(1), 554], [elsewhere(2), 554], ['DATA', 503]]);
  });

  it('counts a dataStart hook\'s refusal of DATA, and closes after it when it reaches the limit', async () => {
    const replies = await closesAfter('203.0.113.207', [[MAIL, 250], ['RCPT TO:<user@example.com>', 250], ['FROB', 500], ['FROB', 500], ['DATA', 554]]);
    assert.equal(replies[4].text, '5.7.1 No message from this envelope');
  });

  it('answers a pipelined envelope whose DATA reaches the limit in order, then the 421', async () => {
    const d = await session('203.0.113.208');
    try {
      d.write([MAIL, 'RCPT TO:<user@example.com>', elsewhere(1), elsewhere(2), 'DATA', ''].join('\r\n'));
      const replies = await rest(d);
      assert.deepEqual(codes(replies), [250, 250, 554, 554, 554, 421]);
      assert.match(replies[4].text, /^5\.7\.1 No message from this envelope/);
      await droppedAtLimit('203.0.113.208');
    } finally { await d.quit(); }
  });
});

describe('limits.max_errors under stress (1) closes right after the first refusal', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  const open: SmtpDialog[] = [];

  before(async () => {
    // Stress from the second connection open: max_errors drops to 1 for clients that are not trusted.
    gw = await startGateway({ config: {
      server: { greeting_delay: 0, stress_threshold: 0.5 },
      limits: { max_connections: 4, max_errors: 5 },
    } });
  });
  after(async () => {
    for (const d of open) d.hangUp();
    await gw?.stop();
  });

  async function greetedFrom(ip: string): Promise<SmtpDialog> {
    const d = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress: ip });
    open.push(d);
    assert.equal((await d.read()).code, 220);
    return d;
  }

  it('sends the refusal as it is, then the 421, and closes', async () => {
    await greetedFrom('127.7.9.1');
    const erring = await greetedFrom('127.7.9.2');
    await waitUntil('stress', () => gw.gateway.runtime.connections.stress.active);
    await oneByOne(erring, [['EHLO client.test', 250], [MAIL, 250], [elsewhere(1), 554]]);
    assert.deepEqual((await repliesUntilClosed(erring, 5)).map((r) => `${r.code} ${r.text}`), [`421 ${FAREWELL}`]);
    const line = gw.logs.find((l) => l.msg === 'too many errors: disconnecting' && l.client === '127.7.9.2');
    assert.deepEqual([line?.error_count, line?.blocked_ms, line?.stress], [1, 0, true]);
  });
});
