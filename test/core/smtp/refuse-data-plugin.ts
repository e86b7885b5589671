// A plugin for the error-limit tests: its dataStart hook refuses every DATA before the 354, as a policy that judges
// the whole envelope would.
import { definePlugin, outcome, s } from '../../../core/index.ts';

export default definePlugin({
  name: 'refuse-data',
  description: 'Test double: refuses every DATA command with 554 5.7.1',
  configSchema: s.object({}),
  create: () => ({
    hooks: {
      dataStart: () => outcome.reject('No message from this envelope', { code: 554, enhanced: '5.7.1' }),
    },
  }),
});
