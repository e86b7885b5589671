// Greylisting over real SMTP sessions with a shortened delay: defer, early retry, pass, remember, window, masks, tags.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { deliver, symbolsOf, sleep } from './session.ts';

const DELAY = 600;

function deferred(r: { code: number; text: string }): void {
  assert.equal(r.code, 451, `expected a deferral, got ${r.code} ${r.text}`);
  assert.match(r.text, /^4\.7\.1 /);
  assert.match(r.text, /greylist/i);
}

/** The delivered copy (file relay) of the message with `marker` in its subject. */
async function deliveredWith(gw: TestGateway, marker: string): Promise<string> {
  await gw.gateway.runtime.delivery.idle();
  const dir = path.join(gw.dataDir, 'delivered');
  for (const f of readdirSync(dir)) {
    const text = readFileSync(path.join(dir, f), 'utf8');
    if (text.includes(marker)) return text;
  }
  throw new Error(`no delivered message has ${marker}`);
}

describe('greylist over SMTP (embedded store)', function () {
  this.timeout(20_000);
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ config: { plugins: [{ name: 'greylist', delay: `${DELAY}ms`, retry_window: '30s', remember: '1h' }] } });
  });
  after(() => gw.stop());

  it('defers a first attempt at RCPT with 451 4.7.1, again when retried too early, and accepts a retry after the delay', async () => {
    const a = { ip: '203.0.113.5', from: 'alice@sender.test', to: 'first@example.com' };
    const first = await deliver(gw.port, a);
    assert.equal(first.mail.code, 250);
    deferred(first.rcpts[0]);
    assert.equal(first.data, undefined);

    deferred((await deliver(gw.port, a)).rcpts[0]);

    await sleep(DELAY + 100);
    const retry = await deliver(gw.port, a);
    assert.equal(retry.rcpts[0].code, 250);
    assert.equal(retry.data?.code, 250);
    assert.ok(symbolsOf(gw.logs, a.to).includes('GREYLIST_PASSED(0)'), String(symbolsOf(gw.logs, a.to)));
    assert.match(await deliveredWith(gw, retry.marker), /^X-Greylist: delayed (0 seconds|1 second) by mx\.test\.example\r?$/m);
  });

  it('remembers a triplet that passed: later messages go through at once, other recipients do not', async () => {
    const a = { ip: '203.0.113.6', from: 'bob@sender.test', to: 'known@example.com' };
    deferred((await deliver(gw.port, a)).rcpts[0]);
    await sleep(DELAY + 100);
    assert.equal((await deliver(gw.port, a)).data?.code, 250);
    for (let i = 0; i < 2; i++) {
      const again = await deliver(gw.port, a);
      assert.equal(again.rcpts[0].code, 250);
      assert.equal(again.data?.code, 250);
      assert.ok(symbolsOf(gw.logs, a.to).includes('GREYLIST_KNOWN(0)'));
    }
    // One transaction, two recipients: the known one is accepted, the new one deferred, and the message goes through.
    const mixed = await deliver(gw.port, { ...a, to: ['known@example.com', 'stranger@example.com'] });
    assert.equal(mixed.rcpts[0].code, 250);
    deferred(mixed.rcpts[1]);
    assert.equal(mixed.data?.code, 250);
  });

  it('reduces the client to its /24 and the sender to its stable form, so a retry from another address with a new BATV tag passes', async () => {
    deferred((await deliver(gw.port, { ip: '203.0.113.10', from: 'prvs=1111aaaa=carol@sender.test', to: 'tags@example.com' })).rcpts[0]);
    await sleep(DELAY + 100);
    const other = await deliver(gw.port, { ip: '203.0.113.200', from: 'prvs=2222bbbb=Carol+news@sender.test', to: 'tags@example.com' });
    assert.equal(other.rcpts[0].code, 250);
    const outside = await deliver(gw.port, { ip: '203.0.114.10', from: 'carol@sender.test', to: 'tags@example.com' });
    deferred(outside.rcpts[0]);
  });

  it('greylists the null sender (bounces) like any other', async () => {
    const a = { ip: '203.0.113.11', from: '', to: 'bounce@example.com' };
    deferred((await deliver(gw.port, a)).rcpts[0]);
    await sleep(DELAY + 100);
    assert.equal((await deliver(gw.port, a)).rcpts[0].code, 250);
  });

  it('keeps the entries in the embedded store file under data_dir, where moat greylist finds them', async () => {
    const { listEntries } = await import('../../../scripts/cli/greylist.ts');
    const entries = await listEntries(gw.gateway.runtime.services.store);
    const passed = entries.find((e) => e.state === 'passed' && e.rcpt === 'first@example.com');
    assert.equal(passed?.client, '203.0.113.0/24');
    assert.equal(passed?.sender, 'alice@sender.test');
    assert.ok(readdirSync(path.join(gw.dataDir, 'state')).includes('state.db'));
  });
});

describe('greylist retry window and remember_by client', function () {
  this.timeout(20_000);
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ config: { plugins: [{ name: 'greylist', delay: '300ms', retry_window: '900ms', remember: '1h', remember_by: 'client', ipv4_mask: 32 }] } });
  });
  after(() => gw.stop());

  it('starts over when the retry comes after the window', async () => {
    const a = { ip: '198.51.100.20', from: 'late@sender.test', to: 'window@example.com' };
    deferred((await deliver(gw.port, a)).rcpts[0]);
    await sleep(1200);
    deferred((await deliver(gw.port, a)).rcpts[0]);
    await sleep(400);
    assert.equal((await deliver(gw.port, a)).rcpts[0].code, 250);
  });

  it('remembers the client: after one pass, any sender and recipient from that address goes through', async () => {
    const a = { ip: '198.51.100.21', from: 'one@sender.test', to: 'client1@example.com' };
    deferred((await deliver(gw.port, a)).rcpts[0]);
    await sleep(400);
    assert.equal((await deliver(gw.port, a)).rcpts[0].code, 250);
    const other = await deliver(gw.port, { ip: '198.51.100.21', from: 'two@else.test', to: 'client2@example.com' });
    assert.equal(other.rcpts[0].code, 250);
    assert.ok(symbolsOf(gw.logs, 'client2@example.com').includes('GREYLIST_KNOWN(0)'));
    // ipv4_mask 32: the neighbour is a different client.
    deferred((await deliver(gw.port, { ...a, ip: '198.51.100.22' })).rcpts[0]);
  });
});
