// A plugin for the header-section tests: tells, in fields of the relayed message, what the parsed view showed it
// (Subject and text), so a test compares what plugins saw with what the smarthost got.
import { definePlugin, s } from '../../../core/index.ts';

export default definePlugin({
  name: 'message-view',
  description: 'Test double: adds X-Seen-Subject and X-Seen-Text from ctx.message.parsed()',
  configSchema: s.object({}),
  create() {
    return {
      hooks: {
        data: async (ctx) => {
          const parsed = await ctx.message!.parsed();
          ctx.addHeader('X-Seen-Subject', JSON.stringify(parsed.subject ?? null));
          ctx.addHeader('X-Seen-Text', JSON.stringify((parsed.text ?? '').trim()));
        },
      },
    };
  },
});
