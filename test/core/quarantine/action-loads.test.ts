// A recipient's action on a quarantined message (a link's Release, the page's Release, Delete, Always allow and Always
// block) reads the message's state once for itself: the plugins' feedback and the action take the same reading. With
// real parts: a quarantine folder written by a QueueStore, the release and delete the control server runs (on a store
// of their own, so only the page's own reads are counted), and the page's handlers given HTTPS requests.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import { FileQueueActions } from '../../../core/queue/file-actions.ts';
import { FolderAwareActions } from '../../../core/queue/admin-ops.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import { MemoryStore } from '../../../core/store/memory-store.ts';
import type { RecipientFeedback } from '../../../core/plugin/define.ts';
import type { HttpRequest, Route } from '../../../core/http/types.ts';
import { quarantineRoutes } from '../../../core/quarantine/http-handlers.ts';
import { loadTicketKey, signRecipientTicket, signTicket } from '../../../core/quarantine/ticket.ts';

const body = Buffer.from('From: Shop <shop@pharma.example>\r\nTo: ann@example.com\r\nSubject: pills\r\n\r\nthe body\r\n');

describe('quarantine: one reading of the message per recipient action', function () {
  this.timeout(20_000);
  let dir: string;
  let store: QueueStore;
  let actionsStore: QueueStore;
  let routes: Route[];
  let key: ReturnType<typeof loadTicketKey>;
  /** Reads of a quarantined message's state by the pages, by id. */
  let reads: string[];
  let lessons: RecipientFeedback[];
  let n = 0;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mm-action-loads-'));
    store = new QueueStore(dir);
    await store.recover();
    actionsStore = new QueueStore(dir);
    const actions = new FolderAwareActions(new FileQueueActions(actionsStore), actionsStore);
    key = loadTicketKey(dir);
    reads = [];
    lessons = [];
    const load = store.load.bind(store);
    store.load = (id, folder) => { if (folder === 'quarantine') reads.push(id); return load(id, folder); };
    routes = quarantineRoutes({
      key, store, lists: new MemoryStore(),
      forRecipient: (action, id, address, by) => (action === 'release' ? actions.releaseForRecipient(id, address, by) : actions.deleteForRecipient(id, address, by)),
      feedback: { wanted: () => true, send: async (event) => { lessons.push(event); } },
    });
  });
  afterEach(() => { store.close(); actionsStore.close(); rmSync(dir, { recursive: true, force: true }); });

  async function quarantined(): Promise<string> {
    const id = `q${String(++n).padStart(19, '0')}`;
    const e: QueueEntry = {
      id, mailFrom: 'shop@pharma.example', recipients: [{ address: 'ann@example.com', status: 'pending' }],
      prepend: '', remove: [], receivedAt: Date.now(), size: body.length,
      client: { ip: '192.0.2.1' }, authenticated: false, attempts: 0, nextAttemptAt: Date.now(), history: [],
    };
    writeFileSync(store.emlPath(id), body);
    await store.commitTo('quarantine', e);
    return id;
  }

  function post(routePath: string, form: Record<string, string>) {
    const route = routes.find((r) => r.method === 'POST' && r.path === routePath)!;
    const req: HttpRequest = { method: 'POST', path: routePath, query: new URLSearchParams(), body: Buffer.from(new URLSearchParams(form).toString()), remoteAddress: '127.0.0.1', tls: true };
    return route.handle(req);
  }

  const expires = () => Date.now() + 3_600_000;
  const mine = () => signRecipientTicket(key, { address: 'ann@example.com', expires: expires() });

  it("a link's Release: one reading, the lesson sent and the message released", async () => {
    const id = await quarantined();
    const res = await post('/quarantine/release', { t: signTicket(key, { id, address: 'ann@example.com', expires: expires(), action: 'release' }) });
    assert.equal(res.status, 303);
    assert.deepEqual(reads, [id]);
    assert.deepEqual(lessons.map((l) => [l.kind, l.how, l.recipient, l.raw.equals(body)]), [['ham', 'release', 'ann@example.com', true]]);
    assert.equal(await store.load(id, 'quarantine'), undefined, 'released: no longer held');
  });

  it("the page's Release and Delete: one reading each", async () => {
    const released = await quarantined();
    assert.equal((await post('/quarantine/mine', { t: mine(), do: 'release', id: released })).status, 303);
    assert.deepEqual(reads, [released]);
    assert.equal(lessons.length, 1);
    const deleted = await quarantined();
    reads = [];
    assert.equal((await post('/quarantine/mine', { t: mine(), do: 'delete', id: deleted })).status, 303);
    assert.deepEqual(reads, [deleted]);
    assert.equal(lessons.length, 1, 'a delete teaches nothing');
  });

  it("the page's Always allow and Always block: one reading each, the sender listed and the lesson sent", async () => {
    for (const [verb, kind] of [['allow', 'ham'], ['block', 'spam']] as const) {
      const id = await quarantined();
      reads = [];
      lessons = [];
      assert.equal((await post('/quarantine/mine', { t: mine(), do: verb, id })).status, 303);
      assert.deepEqual(reads, [id], verb);
      assert.deepEqual(lessons.map((l) => l.kind), [kind], verb);
      assert.equal(await store.load(id, 'quarantine'), undefined, `${verb}: no longer held`);
    }
  });

  it('a message no longer held: 410, read once', async () => {
    const id = await quarantined();
    await post('/quarantine/mine', { t: mine(), do: 'delete', id });
    reads = [];
    const res = await post('/quarantine/mine', { t: mine(), do: 'release', id });
    assert.equal(res.status, 410);
    assert.deepEqual(reads, [id]);
  });
});
