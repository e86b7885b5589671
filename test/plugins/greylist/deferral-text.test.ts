// The greylist's texts that count seconds: the 451 reply built from the `message` option, and the X-Greylist header's.
import assert from 'node:assert/strict';
import { deferralText, secondsText } from '../../../plugins/greylist/index.ts';
import { configSchema } from '../../../plugins/greylist/config.ts';

const DEFAULT_MESSAGE = configSchema.parse({}, '', []).message;

describe('greylist: seconds in its texts', () => {
  it('says one second in the singular and every other count in the plural', () => {
    assert.equal(secondsText(1), '1 second');
    assert.deepEqual([0, 2, 59, 300].map(secondsText), ['0 seconds', '2 seconds', '59 seconds', '300 seconds']);
  });

  it('tells a client with one second left to retry in "1 second", and with more in "N seconds"', () => {
    assert.equal(deferralText(DEFAULT_MESSAGE, 1), 'Greylisted, please try again in 1 second');
    assert.equal(deferralText(DEFAULT_MESSAGE, 2), 'Greylisted, please try again in 2 seconds');
    assert.equal(deferralText(DEFAULT_MESSAGE, 300), 'Greylisted, please try again in 300 seconds');
  });

  it('puts the bare number where an admin\'s text has {retry_in} without " seconds" after it, every time it appears', () => {
    assert.equal(deferralText('Come back in {retry_in}s ({retry_in} to go)', 1), 'Come back in 1s (1 to go)');
    assert.equal(deferralText('Wait {retry_in} seconds, then {retry_in} secondsworth', 1), 'Wait 1 second, then 1 secondsworth');
    assert.equal(deferralText('Greylisted', 5), 'Greylisted');
  });
});
