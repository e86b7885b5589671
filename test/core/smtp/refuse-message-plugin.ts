// A plugin for the tests of refusals after the final dot: its data hook answers a message by its Subject, so one
// gateway gives each kind of reply a message can get there.
import { definePlugin, outcome, s } from '../../../core/index.ts';

export default definePlugin({
  name: 'refuse-message',
  description: 'Test double: refuses a message whose Subject is refuse-550, defer-451 or trouble-451',
  configSchema: s.object({}),
  create: () => ({
    hooks: {
      data: (ctx) => {
        const subject = ctx.message?.headers.first('Subject')?.trim();
        if (subject === 'refuse-550') return outcome.reject('Message content rejected', { code: 550, enhanced: '5.7.1' });
        // A policy's deferral (greylisting the message): the client's to answer for, as Postfix counts it.
        if (subject === 'defer-451') return outcome.tempfail('Try again later', { code: 451, enhanced: '4.7.1' });
        // The mail system's own trouble (a scanner down): not the client's error.
        if (subject === 'trouble-451') return outcome.tempfail('Scanner unavailable', { code: 451, enhanced: '4.3.0' });
        return undefined;
      },
    },
  }),
});
