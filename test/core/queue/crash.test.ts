// Crash safety: SIGKILL the gateway again and again under load; every message that got 250 must reach the smarthost.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnGateway, type SpawnedGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { freePort } from '../../helpers/ports.ts';
import { sendNumbered, seqOf } from './load.ts';
import { sleep, until } from './send.ts';

const MESSAGES = 2000;
const KILLS = 4;

describe('queue: crash safety under SIGKILL', function () {
  this.timeout(120_000);
  let sink: Smarthost;
  let child: SpawnedGateway | undefined;
  let dataDir: string;

  before(async () => {
    sink = await startSmarthost();
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'mm-crash-'));
  });
  after(async () => {
    await child?.kill('SIGKILL');
    await sink.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it(`${MESSAGES} messages with ${KILLS} SIGKILLs: every 250 reaches the smarthost`, async () => {
    const port = await freePort();
    const config = { smarthost: `smtp://127.0.0.1:${sink.port}`, queue: { retry_schedule: ['300ms'], concurrency: 20 } };
    child = await spawnGateway({ dataDir, port, config });
    const started = Date.now();
    let kills = 0;
    let sending = true;
    let acked = 0;
    const load = sendNumbered(() => port, { count: MESSAGES, connections: 20, deadline: Date.now() + 70_000, onAck: (n) => { acked = n; } })
      .finally(() => { sending = false; });
    const killer = (async () => {
      // Kills are spread over the load by progress, not by time, so a faster gateway is still killed mid-stream.
      while (sending && kills < KILLS) {
        const target = Math.floor((MESSAGES * (kills + 1)) / (KILLS + 1));
        while (sending && acked < target) await sleep(20);
        if (!sending) break;
        await child!.kill('SIGKILL');
        kills++;
        child = await spawnGateway({ dataDir, port, config });
      }
    })();
    const result = await load;
    await killer;
    assert.equal(result.refused.size, 0, `refused: ${[...result.refused.values()].slice(0, 3).join('; ')}`);
    assert.equal(result.acked.size, MESSAGES, 'every message was eventually acknowledged');
    assert.ok(kills >= 3, `the gateway was killed ${kills} times while the load ran (need ≥ 3)`);

    const missing = () => { const got = new Set(sink.messages.map(seqOf)); return [...result.acked].filter((s) => !got.has(s)); };
    await until(() => missing().length === 0, 40_000, 'every acknowledged message at the smarthost').catch((e) => {
      throw new Error(`${(e as Error).message}: ${missing().length} missing, e.g. ${missing().slice(0, 5).join(', ')}`);
    });
    await sleep(500);
    const counts = new Map<number, number>();
    for (const m of sink.messages) counts.set(seqOf(m), (counts.get(seqOf(m)) ?? 0) + 1);
    const duplicates = [...counts.values()].reduce((n, c) => n + c - 1, 0);
    const unacked = [...counts.keys()].filter((s) => !result.acked.has(s)).length;
    console.log(`      crash test: ${result.acked.size} messages acknowledged with 250, ${kills} SIGKILLs, ${sink.messages.length} received by the smarthost, ` +
      `${duplicates} duplicate(s), ${unacked} delivered without a 250, ${result.retries} resends, ${((Date.now() - started) / 1000).toFixed(1)} s`);
    // At least once: a duplicate is a message delivered but not yet removed when the gateway died.
    assert.ok(duplicates <= kills * 40, `${duplicates} duplicates for ${kills} kills is more than the messages in flight`);
  });
});
