// A greylist pass counts (the triplet's pass record, auto_allow_after) only for a recipient the rest of the chain took:
// a real gateway with greylist before recipient-verify, which probes a real smtp-server behind it, and clients
// connecting from several loopback addresses.
import assert from 'node:assert/strict';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { startNextHop, type NextHop } from '../recipient-verify/next-hop.ts';
import { sleep } from './session.ts';

const DELAY = 600;
const ALIASES = path.resolve(import.meta.dirname, 'fixtures', 'alias-stub.ts');

interface Tried { rcpts: SmtpReply[]; data?: SmtpReply }

/** One transaction from `ip` (a loopback address the client binds), with DATA when a recipient was taken. */
async function attempt(port: number, ip: string, from: string, to: string[], params: Record<string, string> = {}): Promise<Tried> {
  const c = await SmtpDialog.connect(port, '127.0.0.1', { localAddress: ip });
  try {
    const hello = await c.hello();
    if (hello.code !== 250) throw new Error(`session refused: ${hello.code} ${hello.text}`);
    const mail = await c.cmd(`MAIL FROM:<${from}>`);
    if (mail.code !== 250) throw new Error(`MAIL refused: ${mail.code} ${mail.text}`);
    const rcpts: SmtpReply[] = [];
    for (const t of to) rcpts.push(await c.cmd(`RCPT TO:<${t}>${params[t] ? ` ${params[t]}` : ''}`));
    const data = rcpts.some((r) => r.code === 250) ? await c.data(testMessage({ from, to: to[0] })) : undefined;
    return { rcpts, data };
  } finally {
    await c.quit();
  }
}

const codes = (t: Tried) => t.rcpts.map((r) => r.code);

describe('greylist: only recipients the chain accepted count as passed', function () {
  this.timeout(30_000);
  let hop: NextHop;
  let gw: TestGateway;
  before(async () => {
    hop = await startNextHop();
    gw = await startGateway({
      config: {
        smarthost: `smtp://127.0.0.1:${hop.port}`,
        plugins: [
          { name: 'greylist', delay: `${DELAY}ms`, retry_window: '30s', remember: '1h', auto_allow_after: 2 },
          { name: 'alias-stub', module: ALIASES, aliases: { 'sales@example.com': ['erin@example.com', 'frank@example.com'], 'support@example.com': ['gina@example.com'] } },
          { name: 'recipient-verify', target: `smtp://127.0.0.1:${hop.probePort}`, negative_ttl: '1s' },
        ],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await hop?.stop();
  });

  const store = () => gw.gateway.runtime.services.store;
  const passKeys = async (client: string) => {
    const keys: string[] = [];
    for await (const [k] of store().scan(`greylist:pass:${client}`)) keys.push(k);
    return keys.sort();
  };

  it('a client that only tries unknown users earns no pass and no auto-allow for its network', async () => {
    hop.refuse.set('ghost1@example.com', 550);
    hop.refuse.set('ghost2@example.com', 550);
    const from = 'dict@spam.test';
    assert.deepEqual(codes(await attempt(gw.port, '127.0.1.40', from, ['ghost1@example.com', 'ghost2@example.com'])), [451, 451]);
    await sleep(DELAY + 100);
    const retry = await attempt(gw.port, '127.0.1.40', from, ['ghost1@example.com', 'ghost2@example.com']);
    assert.deepEqual(codes(retry), [550, 550], 'recipient-verify refuses both after greylist let them by');
    assert.deepEqual(await passKeys('127.0.1.0/24'), [], 'no pass recorded for a refused recipient');
    assert.ok(!gw.logs.some((l) => l.msg === 'greylist client network allowed'), 'the network was not auto-allowed');

    const fresh = await attempt(gw.port, '127.0.1.41', 'real@sender.test', ['someone@example.com']);
    assert.deepEqual(codes(fresh), [451], 'a new triplet from the same /24 is still greylisted');
  });

  it('counts the accepted recipient of a transaction and not the refused one beside it', async () => {
    hop.refuse.set('ghost3@example.com', 550);
    const from = 'mixed@sender.test';
    const to = ['alice@example.com', 'ghost3@example.com'];
    assert.deepEqual(codes(await attempt(gw.port, '127.0.3.10', from, to)), [451, 451]);
    await sleep(DELAY + 100);
    const retry = await attempt(gw.port, '127.0.3.10', from, to);
    assert.deepEqual(codes(retry), [250, 550]);
    assert.equal(retry.data?.code, 250);
    assert.deepEqual(await passKeys('127.0.3.0/24'), ['greylist:pass:127.0.3.0/24 mixed@sender.test alice@example.com']);
    assert.equal(await store().get('greylist:passes:127.0.3.0/24'), '1');
    const passed = gw.logs.filter((l) => l.msg === 'greylist passed' && l.network === '127.0.3.0/24').map((l) => l.to);
    assert.deepEqual(passed, [['alice@example.com']]);
    const message = gw.logs.filter((l) => l.msg === 'message' && Array.isArray(l.to) && (l.to as string[]).includes('alice@example.com')).at(-1);
    assert.ok((message?.symbols as string[]).includes('GREYLIST_PASSED(0)'), String(message?.symbols));
  });

  it('a network whose real recipients passed auto_allow_after times is let through at once', async () => {
    const from = 'lists@sender.test';
    for (const rcpt of ['bob@example.com', 'carol@example.com']) {
      assert.deepEqual(codes(await attempt(gw.port, '127.0.2.10', from, [rcpt])), [451]);
    }
    await sleep(DELAY + 100);
    for (const rcpt of ['bob@example.com', 'carol@example.com']) {
      const r = await attempt(gw.port, '127.0.2.10', from, [rcpt]);
      assert.deepEqual(codes(r), [250]);
      assert.equal(r.data?.code, 250);
    }
    assert.ok(gw.logs.some((l) => l.msg === 'greylist client network allowed' && l.network === '127.0.2.0/24'));
    const other = await attempt(gw.port, '127.0.2.11', 'new@elsewhere.test', ['dave@example.com']);
    assert.deepEqual(codes(other), [250], 'another client of the allowed network passes without delay');
  });

  it('a retry whose recipient was refused passes greylisting again when the user exists later', async () => {
    // The waiting entry stays until a delivery to the recipient is accepted, so a refused attempt costs no new delay.
    hop.refuse.set('late@example.com', 550);
    const from = 'early@sender.test';
    assert.deepEqual(codes(await attempt(gw.port, '127.0.4.10', from, ['late@example.com'])), [451]);
    await sleep(DELAY + 100);
    assert.deepEqual(codes(await attempt(gw.port, '127.0.4.10', from, ['late@example.com'])), [550]);
    hop.refuse.delete('late@example.com');
    await sleep(1100); // recipient-verify's negative_ttl
    const r = await attempt(gw.port, '127.0.4.10', from, ['late@example.com']);
    assert.deepEqual(codes(r), [250]);
    assert.deepEqual(await passKeys('127.0.4.0/24'), ['greylist:pass:127.0.4.0/24 early@sender.test late@example.com']);
  });

  it('counts a recipient that a plugin after greylist redirected (an alias) as accepted', async () => {
    const from = 'orders@sender.test';
    assert.deepEqual(codes(await attempt(gw.port, '127.0.5.10', from, ['sales@example.com'])), [451]);
    await sleep(DELAY + 100);
    const r = await attempt(gw.port, '127.0.5.10', from, ['sales@example.com']);
    assert.deepEqual(codes(r), [250]);
    assert.equal(r.data?.code, 250);
    assert.deepEqual(await passKeys('127.0.5.0/24'), ['greylist:pass:127.0.5.0/24 orders@sender.test sales@example.com']);
    assert.deepEqual(codes(await attempt(gw.port, '127.0.5.10', from, ['sales@example.com'])), [250], 'remembered: no new delay');
  });

  it('counts a recipient that a plugin after greylist redirected only to a recipient the transaction had already', async () => {
    const from = 'help@sender.test';
    const to = ['gina@example.com', 'support@example.com'];
    assert.deepEqual(codes(await attempt(gw.port, '127.0.6.10', from, to)), [451, 451]);
    await sleep(DELAY + 100);
    const r = await attempt(gw.port, '127.0.6.10', from, to);
    assert.deepEqual(codes(r), [250, 250]);
    assert.equal(r.data?.code, 250);
    // Two passes reach auto_allow_after (2): the network's own key is there beside the two triplets.
    assert.deepEqual(await passKeys('127.0.6.0/24'), [
      'greylist:pass:127.0.6.0/24',
      'greylist:pass:127.0.6.0/24 help@sender.test gina@example.com',
      'greylist:pass:127.0.6.0/24 help@sender.test support@example.com',
    ]);
    assert.deepEqual(codes(await attempt(gw.port, '127.0.6.10', from, ['support@example.com'])), [250], 'remembered: no new delay');
  });

  it('does not count a refused recipient that another accepted recipient names as its ORCPT', async () => {
    hop.refuse.set('ghost4@example.com', 550);
    const from = 'orcpt@sender.test';
    const to = ['ghost4@example.com', 'henry@example.com'];
    const params = { 'henry@example.com': 'ORCPT=rfc822;ghost4@example.com' };
    assert.deepEqual(codes(await attempt(gw.port, '127.0.7.10', from, to, params)), [451, 451]);
    await sleep(DELAY + 100);
    const r = await attempt(gw.port, '127.0.7.10', from, to, params);
    assert.deepEqual(codes(r), [550, 250]);
    assert.equal(r.data?.code, 250);
    assert.deepEqual(await passKeys('127.0.7.0/24'), ['greylist:pass:127.0.7.0/24 orcpt@sender.test henry@example.com']);
  });
});
