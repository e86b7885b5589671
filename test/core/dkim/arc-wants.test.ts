// Which queued mail the ARC sealer takes on: mail the gateway judged, from the clients seal_for names; never the
// gateway's own mail (rule notices, digests, DMARC reports), which carries no results of the gateway's.
import assert from 'node:assert/strict';
import { ArcSealer } from '../../../core/dkim/arc-seal.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';

const entry = (over: Partial<QueueEntry>): QueueEntry => ({
  id: 'q1', mailFrom: 'a@sender.test', recipients: [], prepend: '', remove: [], receivedAt: 0, size: 10,
  client: { ip: '192.0.2.1' }, authenticated: false, ...over,
} as QueueEntry);

describe('ARC sealer: which mail it takes on', () => {
  // No key file: the sealer logs and seals nothing, but which mail it wants does not depend on the key.
  const sealer = new ArcSealer({ domain: 'example.com', selector: 'arc1', key_file: '/nonexistent/arc1.key', seal_for: ['inbound'] });
  const judged = { action: 'accept', score: 0, symbols: [] };

  it('takes judged inbound mail, and leaves the gateway\'s own mail (no verdict) and delivery notices alone', () => {
    assert.equal(sealer.wants(entry({ verdict: judged })), true);
    assert.equal(sealer.wants(entry({ mailFrom: '' })), false, 'a rule notice, digest or DMARC report: never judged');
    assert.equal(sealer.wants(entry({ verdict: judged, dsn: 'failure' })), false);
    assert.equal(sealer.wants(entry({ verdict: judged, authenticated: true })), false, 'not in seal_for');
  });
});
