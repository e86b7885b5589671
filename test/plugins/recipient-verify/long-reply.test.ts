// The next hop's refusal is quoted in our 550: a long one is cut, and what the client gets stays printable ASCII
// (an SMTP reply line has no charset), whether it came from a probe or from the cache.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startNextHop, type NextHop } from './next-hop.ts';
import { rcpt } from './session.ts';

// Long enough that the next hop's answer, which repeats the address, is beyond the 200 characters we quote.
const DOMAIN = `${'l'.repeat(50)}.${'m'.repeat(50)}.example`;
const ADDRESS = `${'u'.repeat(64)}@${DOMAIN}`;

describe('plugins/recipient-verify: a long refusal from the server behind', function () {
  this.timeout(20_000);
  let hop: NextHop;
  let gw: TestGateway;
  before(async () => {
    hop = await startNextHop();
    gw = await startGateway({ config: { domains: [DOMAIN], plugins: [{ name: 'recipient-verify', target: `smtp://127.0.0.1:${hop.probePort}` }] } });
  });
  after(async () => { await gw?.stop(); await hop?.stop(); });

  it('is cut to 200 characters, marked with ASCII dots, probed and cached alike', async () => {
    hop.refuse.set(ADDRESS, 550);
    for (const source of ['probe', 'cache']) {
      const r = await rcpt(gw.port, ADDRESS);
      assert.equal(r.code, 550, `${source}: ${r.text}`);
      assert.match(r.text, /^[\x20-\x7e]+$/, `${source}: the reply is printable ASCII: ${JSON.stringify(r.text)}`);
      const quoted = /\(the next hop answered: (.*)\)$/.exec(r.text)?.[1] ?? '';
      assert.ok(quoted.startsWith(`550 5.1.1 <${ADDRESS}>: no such`), `${source}: ${quoted}`);
      assert.ok(quoted.endsWith('...') && quoted.length <= 203, `${source}: ${quoted.length} characters: ${quoted}`);
    }
    assert.equal(hop.probeRcpts().length, 1, 'the second answer came from the cache');
  });
});
