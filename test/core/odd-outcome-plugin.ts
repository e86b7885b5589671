// A plugin for metrics-refusals.test.ts: answers a recipient whose local part starts with `odd` with an outcome the
// core refuses (a reject with a 250 code), as a plugin with a bug would.
import { definePlugin, s } from '../../core/index.ts';

export default definePlugin({
  name: 'odd-outcome',
  description: 'Returns an invalid outcome for recipients named odd…',
  configSchema: s.object({}),
  symbols: {},
  create() {
    return {
      hooks: {
        rcptTo(ctx) {
          if (!ctx.rcpt?.local.startsWith('odd')) return undefined;
          return { action: 'reject', code: 250, text: 'this is no refusal' } as never;
        },
      },
    };
  },
});
