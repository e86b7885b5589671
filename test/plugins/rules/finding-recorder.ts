// A test plugin placed before `rules`: records the findings a message asks for in `X-Test-Finding: SYMBOL=score`
// headers, standing in for the scoring plugins (Bayes, ClamAV) whose results the rules read.
import { definePlugin, s } from '../../../core/index.ts';

export default definePlugin({
  name: 'finding-recorder',
  description: 'Records the findings named in X-Test-Finding headers (tests only)',
  configSchema: s.object({}),
  create: () => ({
    hooks: {
      data: (ctx) => {
        for (const v of ctx.message!.headers.all('X-Test-Finding')) {
          const [symbol, score] = v.trim().split('=');
          ctx.addFinding(symbol, Number(score), 'from the test');
        }
      },
    },
  }),
});
