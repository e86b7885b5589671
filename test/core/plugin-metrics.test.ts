// Plugins' own counters (PluginSetup.metrics): named after the plugin, checked, and exported beside the gateway's.
import assert from 'node:assert/strict';
import { definePlugin, type PluginMetrics, type PluginSetup } from '../../core/plugin/define.ts';
import { Metrics, prometheusText } from '../../core/metrics.ts';
import { s } from '../../core/config/schema.ts';

/** A plugin whose data hook counts what the test says, through the counters its create was given. */
function counting(name: string) {
  let given: PluginMetrics | undefined;
  const def = definePlugin({
    name, description: 'counts', configSchema: s.object({}),
    create: (_cfg, setup) => { given = setup.metrics; return { hooks: {} }; },
  });
  return { def, counters: () => given };
}

function setupWith(metrics: PluginMetrics | undefined): PluginSetup {
  return { log: undefined as never, services: undefined as never, projectDir: '.', configDir: '.', metrics };
}

describe('plugin counters', () => {
  it('puts each plugin\'s name before its counters, apart from the gateway\'s own', async () => {
    const m = new Metrics();
    const clam = counting('clamav');
    const lists = counting('user-lists');
    await clam.def.create({}, setupWith(m.forPlugins()));
    await lists.def.create({}, setupWith(m.forPlugins()));
    clam.counters()!.inc('viruses');
    clam.counters()!.inc('viruses', 2);
    lists.counters()!.inc('connections');
    m.inc('connections', 5);
    const snap = m.snapshot();
    assert.deepEqual(snap.plugins, { clamav_viruses: 3, user_lists_connections: 1 });
    assert.equal(snap.connections, 5, 'a plugin counter never moves one of the gateway\'s');
  });

  it('refuses a name outside a-z, 0-9 and _, and a count that is not one, saying which', async () => {
    const m = new Metrics();
    const p = counting('clamav');
    await p.def.create({}, setupWith(m.forPlugins()));
    const c = p.counters()!;
    assert.throws(() => c.inc('size-limit'), /plugin clamav: counter name "size-limit" must be of a-z, 0-9 and _/);
    assert.throws(() => c.inc('Viruses'), /must be of a-z, 0-9 and _/);
    assert.throws(() => c.inc(''), /must be of a-z, 0-9 and _/);
    assert.throws(() => c.inc('viruses', -1), /clamav_viruses: -1 is not a count to add/);
    assert.throws(() => c.inc('viruses', NaN), /is not a count to add/);
    assert.equal(m.snapshot().plugins, undefined, 'nothing refused was counted');
  });

  it('gives a plugin no counters where the setup has none (check-config, the CLI)', async () => {
    const p = counting('clamav');
    await p.def.create({}, setupWith(undefined));
    assert.equal(p.counters(), undefined);
  });

  it('exports them as Prometheus counters, after the gateway\'s, never as a second family of one name', () => {
    const m = new Metrics();
    const all = m.forPlugins();
    all.inc('clamav_viruses', 4);
    all.inc('dns_cache_hits', 1);
    const text = prometheusText({ ...m.snapshot(), dns: { cache_hits: 7 } });
    assert.match(text, /^# HELP mailmoat_clamav_viruses_total .+\n# TYPE mailmoat_clamav_viruses_total counter\nmailmoat_clamav_viruses_total 4$/m);
    assert.match(text, /^# TYPE mailmoat_dns_cache_hits_total counter\nmailmoat_dns_cache_hits_total 7$/m);
    assert.match(text, /^# TYPE mailmoat_plugin_dns_cache_hits_total counter\nmailmoat_plugin_dns_cache_hits_total 1$/m);
    assert.doesNotMatch(text, /mailmoat_plugins_/, 'the snapshot\'s `plugins` key is not a name part');
  });
});
