// A plugin for the pipelining tests: holds DATA before its 354 (or RCPT before its reply), so input the client sends
// meanwhile arrives while the hooks run.
import { definePlugin, s } from '../../../core/index.ts';

export default definePlugin({
  name: 'slow-data-start',
  description: 'Test double: waits delay_ms in the dataStart hook, or in the rcptTo hook',
  configSchema: s.object({ delay_ms: s.number().default(300), hook: s.enum(['dataStart', 'rcptTo'] as const).default('dataStart') }),
  create(cfg) {
    const wait = async () => { await new Promise((r) => setTimeout(r, cfg.delay_ms)); };
    return { hooks: cfg.hook === 'rcptTo' ? { rcptTo: wait } : { dataStart: wait } };
  },
});
