// A plugin for the pipelining tests: holds DATA before its 354, so input the client sends meanwhile arrives while the
// dataStart hooks run.
import { definePlugin, s } from '../../../core/index.ts';

export default definePlugin({
  name: 'slow-data-start',
  description: 'Test double: waits delay_ms in the dataStart hook',
  configSchema: s.object({ delay_ms: s.number().default(300) }),
  create(cfg) {
    return { hooks: { async dataStart() { await new Promise((r) => setTimeout(r, cfg.delay_ms)); } } };
  },
});
