// limits.max_connections_per_ip leaves relay.networks and access.allow_ips alone, as Postfix's
// smtpd_client_connection_count_limit leaves $mynetworks: an internal relay or a partner's MTA holding many connections
// at once is served, a stranger past the cap gets 421, and limits.max_connections still counts everyone
// (core/smtp/connection-limits.ts connectionCaps). Driven by real clients from loopback addresses of their own.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { waitUntil } from '../../helpers/wait-for.ts';

const PER_IP = 2;
const TOTAL = 12;
const RELAY = '127.0.0.4';
const ALLOWED = '127.0.0.5';
const STRANGER = '127.0.0.6';
/** A relay network a trusted proxy (127.0.0.1, the test gateway's) names with XCLIENT. */
const RELAY_BEHIND_PROXY = '10.20.0.7';

describe('max_connections_per_ip exemptions', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  const held: SmtpDialog[] = [];
  const count = () => gw.gateway.runtime.connections.count;

  before(async () => {
    gw = await startGateway({
      config: {
        // No stress: its shorter idle time would close the connections this test holds open.
        server: { greeting_delay: 0, stress_threshold: 0, tls_listen: ['127.0.0.1:0'] },
        relay: { networks: [`${RELAY}/32`, '10.20.0.0/16'] },
        access: { allow_ips: [ALLOWED] },
        limits: { max_connections_per_ip: PER_IP, max_connections: TOTAL },
      },
    });
  });
  afterEach(async () => {
    for (const d of held.splice(0)) d.hangUp();
    await waitUntil(() => `every connection to be counted down (${count()} still counted)`, () => count() === 0);
  });
  after(() => gw.stop());

  /** Opens a connection from `ip` (to the smtps listener with `tls`), keeps it open, and gives its greeting. */
  async function open(ip: string, opts: { tls?: boolean } = {}): Promise<{ code: number; text: string }> {
    const port = opts.tls ? gw.gateway.listeners.find((l) => l.kind === 'smtps')!.port : gw.port;
    const d = await SmtpDialog.connect(port, '127.0.0.1', { localAddress: ip, tls: opts.tls });
    held.push(d);
    const r = await d.read();
    return { code: r.code, text: r.text };
  }

  async function greetings(ip: string, n: number, opts: { tls?: boolean } = {}): Promise<number[]> {
    const codes: number[] = [];
    for (let i = 0; i < n; i++) codes.push((await open(ip, opts)).code);
    return codes;
  }

  it('greets a relay.networks client and an access.allow_ips client past the cap, and refuses a stranger there', async () => {
    assert.deepEqual(await greetings(RELAY, PER_IP + 2), [220, 220, 220, 220], 'relay.networks is not capped');
    assert.deepEqual(await greetings(ALLOWED, PER_IP + 2), [220, 220, 220, 220], 'access.allow_ips is not capped');
    assert.deepEqual(await greetings(STRANGER, PER_IP), [220, 220]);
    const over = await open(STRANGER);
    assert.equal(over.code, 421);
    assert.equal(over.text, '4.7.0 Too many connections from your address');
    const line = gw.logs.find((l) => l.msg === 'client refused: connection limit' && l.client === STRANGER);
    assert.equal(line?.limit, 'limits.max_connections_per_ip');
    assert.ok(!gw.logs.some((l) => l.limit === 'limits.max_connections_per_ip' && (l.client === RELAY || l.client === ALLOWED)),
      'no exempt client was refused at the per-client cap');
  });

  it('still counts exempt clients toward max_connections, which refuses them too once it is reached', async () => {
    assert.deepEqual(await greetings(RELAY, TOTAL), Array(TOTAL).fill(220));
    assert.equal(count(), TOTAL);
    const relayOver = await open(RELAY);
    assert.equal(relayOver.code, 421);
    assert.equal(relayOver.text, '4.7.0 Too many connections, try again later');
    const allowedOver = await open(ALLOWED);
    assert.equal(allowedOver.code, 421, 'access.allow_ips is no exception to the total either');
    assert.equal(count(), TOTAL, 'the refused ones were never counted');
  });

  it('exempts them on the implicit-TLS listener, counted from the accept', async () => {
    assert.deepEqual(await greetings(RELAY, PER_IP + 2, { tls: true }), [220, 220, 220, 220]);
    assert.deepEqual(await greetings(STRANGER, PER_IP, { tls: true }), [220, 220]);
    // Refused before the handshake, where nothing can be said: the socket is dropped.
    await assert.rejects(open(STRANGER, { tls: true }));
  });

  it('exempts a relay.networks client a trusted proxy names with XCLIENT, and caps a stranger named so', async () => {
    const named = async (addr: string, n: number) => {
      const codes: number[] = [];
      for (let i = 0; i < n; i++) {
        const d = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress: '127.0.0.1' });
        held.push(d);
        codes.push((await d.hello({ xclient: { addr } })).code);
      }
      return codes;
    };
    assert.deepEqual(await named(RELAY_BEHIND_PROXY, PER_IP + 2), [250, 250, 250, 250]);
    assert.deepEqual(await named('192.0.2.50', PER_IP + 1), [250, 250, 421]);
  });
});
