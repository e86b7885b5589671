// `moat doctor` said `ok state store: redis … answers in 36 ms` for a Redis that keeps nothing across a restart
// (`save ''`, `appendonly no`), where user lists, greylist passes and `greylist allow` entries vanish at its next
// restart. Against a real redis-server: a warning (not a failure) saying what is lost and what to set; nothing for one
// that persists; and a note, not a failure, when the server refuses CONFIG (an ACL here).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { run as doctorCli } from '../../../scripts/cli/doctor.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import { capture } from '../../helpers/console-capture.ts';

describe('moat doctor: what the Redis state store keeps across a restart', function () {
  this.timeout(30_000);
  let dir: string;
  let redis: RedisHandle;
  let admin: Redis;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailmoat-doctor-persist-'));
    // The helper's Redis runs with `save ''` and `appendonly no`: the setup the walk-through found.
    redis = await startRedis();
    admin = new Redis(redis.url, { lazyConnect: true });
    await admin.connect();
  });
  after(async () => {
    admin?.disconnect();
    await redis?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** doctor with the state store at `url` and no domain (the DNS check then asks nobody). */
  async function doctor(url: string): Promise<{ code: number; out: string }> {
    const file = path.join(dir, 'mailmoat.yaml');
    fs.writeFileSync(file, `data_dir: ./data\nstate:\n  backend: redis\n  redis:\n    url: "${url}"\n`);
    return capture(() => doctorCli(['--config', file]));
  }

  it('warns, and still exits 0, when Redis keeps nothing: what is lost and what to set', async () => {
    const { code, out } = await doctor(redis.url);
    assert.equal(code, 0, out);
    assert.match(out, /^ok {3}state store: redis at redis:\/\/127\.0\.0\.1:\d+ answers in \d+ ms$/m);
    assert.match(out, /^WARN state store: redis at redis:\/\/127\.0\.0\.1:\d+ keeps nothing across a restart \(save '' and appendonly no\): user lists, greylist passes, `greylist allow` entries .* are lost when it restarts; set `appendonly yes`/m);
  });

  it('says nothing more when it keeps an append-only file, or RDB snapshots', async () => {
    await admin.config('SET', 'appendonly', 'yes');
    try {
      const { code, out } = await doctor(redis.url);
      assert.equal(code, 0, out);
      assert.match(out, /^ok {3}state store: redis at .* answers in \d+ ms$/m);
      assert.doesNotMatch(out, /keeps nothing|persistence/);
    } finally {
      await admin.config('SET', 'appendonly', 'no');
    }
    await admin.config('SET', 'save', '3600 1');
    try {
      const { out } = await doctor(redis.url);
      assert.doesNotMatch(out, /keeps nothing|persistence/);
    } finally {
      await admin.config('SET', 'save', '');
    }
  });

  it('notes persistence as unknown, without failing, when an ACL refuses CONFIG; no password printed', async () => {
    await admin.call('ACL', 'SETUSER', 'gateway', 'on', '>no config 4u', '~*', '+@all', '-config');
    const { code, out } = await doctor(`redis://gateway:no config 4u@127.0.0.1:${redis.port}`);
    assert.equal(code, 0, out);
    assert.match(out, /^ok {3}state store: redis at redis:\/\/gateway:\*\*\*@127\.0\.0\.1:\d+ answers in \d+ ms$/m);
    assert.match(out, /^note state store: persistence of redis at redis:\/\/gateway:\*\*\*@127\.0\.0\.1:\d+ unknown: CONFIG GET refused \(NOPERM[^)]*\); make sure it keeps its data/m);
    assert.doesNotMatch(out, /^(WARN|FAIL) state store/m);
    assert.doesNotMatch(out, /no config 4u|no%20config/);
  });
});
