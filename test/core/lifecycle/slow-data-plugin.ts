// A plugin for the stop tests: holds each message in its data hook, so a message whose final dot arrived just before
// a stop's cut-off is still being checked after it.
import { definePlugin, s } from '../../../core/index.ts';

export default definePlugin({
  name: 'slow-data',
  description: 'Test double: waits delay_ms in the data hook',
  configSchema: s.object({ delay_ms: s.number().default(1000) }),
  create(cfg) {
    return { hooks: { async data() { await new Promise((r) => setTimeout(r, cfg.delay_ms)); } } };
  },
});
