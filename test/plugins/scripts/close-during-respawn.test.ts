// A call that runs past its deadline has its sandbox killed and replaced; a stop or reload that closes the pool while
// that replacement still loads ends it too. That is the close at work and is logged as such (info), while a
// replacement that fails to start in a running pool stays an error.
import assert from 'node:assert/strict';
import { ScriptPool } from '../../../plugins/scripts/pool.ts';
import type { Logger } from '../../../core/index.ts';
import { poolOptions } from './test-pools.ts';
import { waitUntil } from '../../helpers/wait-for.ts';

type Line = { level: string; msg: string; fields?: Record<string, unknown> };

function recorder(): { log: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => { lines.push({ level, msg, fields }); };
  const log: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child() { return log; } };
  return { log, lines };
}

const input = JSON.stringify({ subject: 'hello', headers: [], text: 'body' });
const RUNAWAY = 'module.exports = async () => { for (;;) await null; }';

describe('plugins/scripts pool: a close while a sandbox is being replaced', function () {
  this.timeout(30_000);

  it('logs the replacement its close ended at info, not as a sandbox that could not be replaced', async () => {
    const { log, lines } = recorder();
    const pool = await ScriptPool.start(poolOptions({ size: 1, timeoutMs: 300, memoryMb: 64, maxWaitMs: 5_000, maxResultChars: 65_536, log }, [RUNAWAY]));
    const [first] = pool.pids();
    const r = await pool.call(0, input);
    assert.equal(r.ok, false);
    assert.equal((r as { failure: string }).failure, 'timeout');
    // The runaway child is gone and its replacement is starting (not yet loaded): close now, as a SIGTERM would.
    await waitUntil('the replacement to be forked', () => pool.pids().some((p) => p !== first));
    assert.equal(pool.stats().idle, 0, 'the replacement is still loading');
    await pool.close();
    await new Promise((r) => setTimeout(r, 50)); // the failed start's catch runs after the close's last await
    const errors = lines.filter((l) => l.level === 'error');
    assert.deepEqual(errors, [], 'no error line for a stop');
    const ended = lines.find((l) => l.msg === 'script sandbox replacement ended by the pool\'s close');
    assert.ok(ended, JSON.stringify(lines));
    assert.equal(ended.level, 'info');
    assert.match(String(ended.fields?.error), /SIGKILL/);
  });

  it('still logs an error when a replacement fails to start while the pool runs', async () => {
    const { log, lines } = recorder();
    const pool = await ScriptPool.start(poolOptions({ size: 1, timeoutMs: 300, memoryMb: 64, maxWaitMs: 5_000, maxResultChars: 65_536, log }, [RUNAWAY]));
    try {
      const [first] = pool.pids();
      await pool.call(0, input);
      await waitUntil('the replacement to be forked', () => pool.pids().some((p) => p !== first));
      const replacement = pool.pids().find((p) => p !== first)!;
      process.kill(replacement, 'SIGKILL');
      await waitUntil('the error line', () => lines.some((l) => l.level === 'error'));
      const failed = lines.find((l) => l.level === 'error')!;
      assert.equal(failed.msg, 'script sandbox could not be replaced');
      assert.match(String(failed.fields?.error), /SIGKILL/);
    } finally {
      await pool.close();
    }
  });
});
