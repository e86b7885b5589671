// A test double for a plugin that redirects recipients at RCPT (an alias table, as Haraka's aliases plugin), for tests
// of what later plugins see. A test file exports `aliasPlugin(...)` as its default and names itself as the module.
import { definePlugin, s } from '../../core/index.ts';

/** A plugin called `name` that sends each recipient listed in `aliases` (lower-case keys) to its targets instead. */
export function aliasPlugin(name: string, aliases: Record<string, string[]>) {
  return definePlugin({
    name,
    description: 'Test double: an alias table at RCPT',
    configSchema: s.object({}),
    create: () => ({
      hooks: {
        rcptTo: (ctx) => {
          const targets = aliases[ctx.rcpt!.address.toLowerCase()];
          if (targets) ctx.redirectRecipient(targets, 'alias');
        },
      },
    }),
  });
}
