// The held index is read at most once every 10 s however many pages are viewed, and forgotten only when a recipient's
// action changed what is held. A POST that changed nothing (no message named, an unknown verb, a message already gone,
// a list entry) used to throw it away as well, so any ticket holder could have the whole quarantine read again with
// each such POST. With real parts: a gateway whose rule quarantines mail sent over SMTP, its debug log (one `quarantine
// index read` line per read of the folder), and HTTPS requests as a recipient's browser makes them.
import assert from 'node:assert/strict';
import type { RelayingGateway } from '../../helpers/gateway.ts';
import { loadTicketKey, signRecipientTicket } from '../../../core/quarantine/ticket.ts';
import { askForm } from './https-form.ts';
import { holdMail, startHoldingGateway } from './holding-gateway.ts';

describe('the held index is kept through POSTs that change nothing', function () {
  this.timeout(60_000);
  let g: RelayingGateway;
  let ca: Buffer;
  let port: number;
  const hold = (subject: string) => holdMail(g, 'ann@example.com', subject);
  const reads = () => g.logs.filter((l) => l.msg === 'quarantine index read').length;

  before(async () => { ({ g, port, ca } = await startHoldingGateway('^hold-me')); });
  after(() => g.stop());

  it('a refused or empty POST leaves it cached; a release reads it again', async () => {
    const kept = await hold('hold-me: kept');
    const gone = await hold('hold-me: gone');
    const t = signRecipientTicket(loadTicketKey(g.dataDir), { address: 'ann@example.com', expires: Date.now() + 3_600_000 });
    const post = (fields: Record<string, string>) => askForm(port, ca, 'POST', '/quarantine/mine', { t, ...fields });
    assert.equal((await askForm(port, ca, 'GET', '/quarantine/mine', { t })).status, 200);
    assert.equal(reads(), 1, 'the first view reads the folder');
    assert.equal((await post({ do: 'delete', id: gone })).redirect?.status, 303);
    assert.equal(reads(), 2, 'a delete changed what is held: the page it leads to reads again');

    const nothing = [
      await post({ do: 'delete' }), // no message named
      await post({ do: 'release' }),
      await post({ do: 'shred', id: kept }), // no such verb
      await post({ do: 'delete', id: gone }), // already gone
      await post({ do: 'release-selected' }), // nothing ticked
      await post({ do: 'add', list: 'block', entry: 'spam@pharma.example' }), // no lists kept here (no user-lists plugin)
      await post({ do: 'delete-all', confirm: '1', upto: 'soon' }), // a confirmation that says nothing
    ];
    assert.deepEqual(nothing.map((a) => a.redirect?.status ?? a.status), [400, 400, 400, 410, 400, 404, 400]);
    assert.equal((await askForm(port, ca, 'GET', '/quarantine/mine', { t })).status, 200);
    assert.equal(reads(), 2, 'none of them threw the index away');
    assert.deepEqual((await g.gateway.runtime.queue.load(kept, 'quarantine'))?.recipients.map((r) => r.status), ['pending']);

    assert.equal((await post({ do: 'release', id: kept })).redirect?.status, 303);
    await g.sink.waitFor(1);
    assert.equal(reads(), 3);
  });
});
