// A score override for a symbol spf does not have (`SPF_FAIIL`) stops the start, naming the close match and the
// symbols it has, instead of being taken while SPF_FAIL keeps its default.
import assert from 'node:assert/strict';
import { startGateway } from '../../helpers/gateway.ts';

describe('plugins/spf: scores keys', function () {
  this.timeout(30_000);
  it('refuses an unknown symbol at start, with the close match and the known ones', async () => {
    await assert.rejects(
      startGateway({ config: { plugins: [{ name: 'spf', scores: { SPF_FAIIL: 6 } }] } }),
      (e: Error) => {
        assert.match(e.message, /plugins\[0\]\.scores\.SPF_FAIIL: is not a symbol of this plugin; did you mean SPF_FAIL\? \(known: SPF_PASS, SPF_FAIL, /);
        assert.match(e.message, /SPF_GUESS_TEMPERROR\)/);
        return true;
      },
    );
  });
});
