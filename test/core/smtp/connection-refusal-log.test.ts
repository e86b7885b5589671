// Refusals at limits.max_connections and max_connections_per_ip are logged, but a flood of them is not a flood of lines:
// a client's first refusal gets a line with the limit and the counts, the rest one line a minute with how many; the
// total cap one warning, then one a minute while refusals go on (core/smtp/connection-refusal-log.ts).
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { waitFor, waitUntil } from '../../helpers/wait-for.ts';
import { ConnectionRefusalLog, type LimitRefusal } from '../../../core/smtp/connection-refusal-log.ts';
import type { Logger, LogFields } from '../../../core/log/types.ts';

const BURST = 300;

/** Connects from `localAddress` and reads the whole answer until the gateway closes the connection. */
function refusedConnection(port: number, localAddress: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('error', reject);
    s.on('close', () => resolve(got));
  });
}

/** `n` connections, at most 50 at once, each answer read to the close. */
async function burst(n: number, open: (i: number) => Promise<string>): Promise<string[]> {
  const answers: string[] = [];
  for (let i = 0; i < n; i += 50) answers.push(...await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, j) => open(i + j))));
  return answers;
}

describe('refusals at the connection limits in the log', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  const refusedCount = () => gw.gateway.runtime.metrics.counters.get('connections_refused') ?? 0;
  const lines = (msg: string, from = 0) => gw.logs.slice(from).filter((l) => l.msg === msg);

  before(async () => {
    gw = await startGateway({
      config: {
        server: { greeting_delay: 0, tls_listen: ['127.0.0.1:0'] },
        limits: { max_connections: 12, max_connections_per_ip: 2 },
      },
    });
  });
  after(async () => { await gw?.stop(); });

  async function held(localAddress: string): Promise<SmtpDialog> {
    const d = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress });
    assert.equal((await d.read()).code, 220);
    return d;
  }

  it('logs a client over max_connections_per_ip once, with the limit and the counts, however many it opens', async () => {
    const holding = [await held('127.8.0.1'), await held('127.8.0.1')];
    const from = gw.logs.length;
    const before = refusedCount();
    const answers = await burst(BURST, () => refusedConnection(gw.port, '127.8.0.1'));
    assert.ok(answers.every((a) => a.startsWith('421 4.7.0 Too many connections from your address')), answers.find((a) => !a.startsWith('421')));
    assert.equal(refusedCount(), before + BURST, 'each refusal is counted');
    const logged = lines('client refused: connection limit', from);
    assert.equal(logged.length, 1, 'one line for the whole burst');
    assert.deepEqual(
      { client: logged[0].client, limit: logged[0].limit, max: logged[0].max, open: logged[0].open, total: logged[0].total, listener: logged[0].listener },
      { client: '127.8.0.1', limit: 'limits.max_connections_per_ip', max: 2, open: 2, total: 2, listener: 'smtp' },
    );
    // Another client's first refusal is its own line.
    const other = [await held('127.8.0.2'), await held('127.8.0.2')];
    await refusedConnection(gw.port, '127.8.0.2');
    const second = lines('client refused: connection limit', from);
    assert.deepEqual(second.map((l) => l.client), ['127.8.0.1', '127.8.0.2']);
    assert.equal(second[1].total, 4);
    assert.equal(lines('client refused: connection limit, repeated', from).length, 0, 'its minute is not over');
    for (const d of [...holding, ...other]) d.hangUp();
    await waitUntil('the held connections to close', () => gw.gateway.runtime.connections.count === 0);
  });

  it('drops a client over its limit before the TLS handshake on the implicit-TLS port, with a line saying so', async () => {
    const port = gw.gateway.port('smtps');
    const open = () => new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ port, host: '127.0.0.1', localAddress: '127.8.0.3', rejectUnauthorized: false } as tls.ConnectionOptions, () => resolve(s));
      s.once('error', reject);
    });
    const holding = [await open(), await open()];
    const from = gw.logs.length;
    const before = refusedCount();
    const dropped = await Promise.allSettled(Array.from({ length: 20 }, open));
    assert.ok(dropped.every((r) => r.status === 'rejected'), 'no handshake over the limit');
    assert.equal(refusedCount(), before + 20);
    const logged = lines('client refused: connection limit', from);
    assert.equal(logged.length, 1);
    assert.deepEqual({ client: logged[0].client, listener: logged[0].listener, before: logged[0].before, open: logged[0].open }, { client: '127.8.0.3', listener: 'smtps', before: 'TLS handshake', open: 2 });
    for (const s of holding) s.destroy();
    await waitUntil('the held connections to close', () => gw.gateway.runtime.connections.count === 0);
  });

  it('warns once when max_connections is reached, with no line per refused client, from however many addresses', async () => {
    const holding: SmtpDialog[] = [];
    for (let i = 1; i <= 12; i++) holding.push(await held(`127.8.1.${i}`));
    const from = gw.logs.length;
    const before = refusedCount();
    const answers = await burst(BURST, (i) => refusedConnection(gw.port, `127.9.${Math.floor(i / 200)}.${(i % 200) + 1}`));
    assert.ok(answers.every((a) => a.startsWith('421 4.7.0 Too many connections, try again later')));
    assert.equal(refusedCount(), before + BURST);
    const warned = lines('connection limit reached', from);
    assert.equal(warned.length, 1, 'one warning for the whole burst');
    assert.deepEqual({ level: warned[0].level, limit: warned[0].limit, max: warned[0].max, open: warned[0].open }, { level: 'warn', limit: 'limits.max_connections', max: 12, open: 12 });
    assert.match(String(warned[0].client), /^127\.9\./, 'it names a client it refused');
    assert.equal(lines('client refused: connection limit', from).length, 0, 'no line per address of the flood');
    for (const d of holding) d.hangUp();
  });
});

describe('ConnectionRefusalLog', () => {
  function recorder(): { log: Logger; lines: LogFields[] } {
    const lines: LogFields[] = [];
    const at = (level: string) => (msg: string, fields: LogFields = {}) => { lines.push({ level, msg, ...fields }); };
    const log: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => log };
    return { log, lines };
  }
  const perClient = (key: string): LimitRefusal => ({ limit: 'limits.max_connections_per_ip', key, text: 'Too many connections from your address', max: 2, open: 2, total: 5 });
  const total: LimitRefusal = { limit: 'limits.max_connections', key: '198.51.100.9', text: 'Too many connections, try again later', max: 5, open: 0, total: 5 };

  it('tells a client\'s refusals since its last line at most once a minute, and then starts its count again', () => {
    let now = 1_000_000;
    const book = new ConnectionRefusalLog(() => now);
    const { log, lines } = recorder();
    for (let i = 0; i < 100; i++) { book.refused(log, '192.0.2.7', perClient('192.0.2.7'), {}); now += 500; }
    // 100 refusals over 50 s: the first line only.
    assert.deepEqual(lines.map((l) => l.msg), ['client refused: connection limit']);
    now += 10_000;
    book.refused(log, '192.0.2.7', perClient('192.0.2.7'), {});
    assert.deepEqual(lines.slice(1).map((l) => [l.msg, l.client, l.refused, l.over_s]), [['client refused: connection limit, repeated', '192.0.2.7', 99, 60]]);
    // The refusal that brought the summary opens the next minute's count.
    now += 60_000;
    for (let i = 0; i < 3; i++) book.refused(log, '192.0.2.7', perClient('192.0.2.7'), {});
    assert.deepEqual(lines.slice(2).map((l) => [l.msg, l.refused]), [['client refused: connection limit, repeated', 1]]);
    // The timer's summary (flush) leaves nothing counted: a client then quiet for a minute is forgotten, and its next
    // refusal is a first line again.
    now += 60_000;
    book.flush();
    now += 60_000;
    book.refused(log, '192.0.2.7', perClient('192.0.2.7'), {});
    book.refused(log, '192.0.2.8', perClient('192.0.2.8'), {});
    assert.deepEqual(lines.slice(3).map((l) => [l.msg, l.refused ?? l.client]), [
      ['client refused: connection limit, repeated', 3],
      ['client refused: connection limit', '192.0.2.7'],
      ['client refused: connection limit', '192.0.2.8'],
    ]);
    assert.equal(book.tracked, 2);
  });

  it('repeats the total cap\'s warning at most once a minute, whichever clients are refused', () => {
    let now = 0;
    const book = new ConnectionRefusalLog(() => now);
    const { log, lines } = recorder();
    for (let i = 0; i < 1000; i++) { book.refused(log, `203.0.113.${i % 250}`, { ...total, key: `203.0.113.${i % 250}` }, {}); now += 100; }
    // 1000 refusals over 100 s: the first warning, and one at 60 s with the 599 refusals after the first.
    assert.deepEqual(lines.map((l) => [l.level, l.msg, l.refused]), [['warn', 'connection limit reached', undefined], ['warn', 'connection limit reached', 599]]);
    assert.equal(book.tracked, 0, 'no client kept for the total cap');
  });

  it('writes the last count when the refusals stop, without a refusal to bring it', async () => {
    const book = new ConnectionRefusalLog(Date.now, 200);
    const { log, lines } = recorder();
    for (let i = 0; i < 40; i++) book.refused(log, '192.0.2.9', perClient('192.0.2.9'), {});
    const summary = await waitFor('the count of the refusals after the first', () => lines.find((l) => l.msg === 'client refused: connection limit, repeated'));
    assert.equal(summary.refused, 39);
    assert.equal(lines.length, 2);
  });
});
