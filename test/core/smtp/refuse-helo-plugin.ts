// A plugin for the greeting tests: its helo hook refuses a name holding `!` (the session goes on, as after any refused
// HELO or EHLO), and accepts every other.
import { definePlugin, outcome, s } from '../../../core/index.ts';

export default definePlugin({
  name: 'refuse-helo',
  description: 'Test double: refuses HELO and EHLO names that hold an exclamation mark',
  configSchema: s.object({}),
  create: () => ({
    hooks: {
      helo: (ctx) => (ctx.command?.args.includes('!') ? outcome.reject('Not a host name', { code: 550, enhanced: '5.7.1' }) : undefined),
    },
  }),
});
