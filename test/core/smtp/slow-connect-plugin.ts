// A plugin for the stress tests: a connect hook as slow as a blocklist or PTR lookup on a bad day, for the clients
// listed only, so the other sessions of the same gateway are greeted at once.
import { definePlugin, s } from '../../../core/index.ts';

export default definePlugin({
  name: 'slow-connect',
  description: 'Test double: waits delay_ms in the connect hook of the listed client addresses',
  configSchema: s.object({ delay_ms: s.number().default(3000), clients: s.array(s.string()).default([]) }),
  create(cfg) {
    const slow = new Set(cfg.clients);
    return {
      hooks: {
        connect: async (ctx) => {
          if (slow.has(ctx.session.remote.ip)) await new Promise((r) => setTimeout(r, cfg.delay_ms));
        },
      },
    };
  },
});
