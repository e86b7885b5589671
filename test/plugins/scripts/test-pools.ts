// Script pools for the sandbox tests: the options from a few sources and the file's defaults, and pools started by a
// test closed after it.
import { ScriptPool, type PoolOptions } from '../../../plugins/scripts/pool.ts';

type Defaults = Omit<PoolOptions, 'scripts'>;

/** Pool options running `sources` as s0.js, s1.js, …, on `defaults`, with `over` on top. */
export function poolOptions(defaults: Defaults, sources: string[], over: Partial<PoolOptions> = {}): PoolOptions {
  return { scripts: sources.map((source, i) => ({ name: `s${i}.js`, source })), ...defaults, ...over };
}

/** Inside a describe: a starter whose pools are closed after each test. */
export function testPools(defaults: Defaults): (sources: string[], over?: Partial<PoolOptions>) => Promise<ScriptPool> {
  const pools: ScriptPool[] = [];
  afterEach(async () => { for (const p of pools.splice(0)) await p.close(); });
  return async (sources, over = {}) => {
    const p = await ScriptPool.start(poolOptions(defaults, sources, over));
    pools.push(p);
    return p;
  };
}
