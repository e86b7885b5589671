// state.redis.url is read as the store reads it, so check-config refuses what the store could never connect to
// (the store starts unreachable and keeps retrying, so a start would not show it either); no message quotes the URL.
import assert from 'node:assert/strict';
import { validate } from '../../../core/config/schema.ts';
import { stateConfigSchema } from '../../../core/store/config.ts';

const problems = (url: string) => validate(stateConfigSchema, { backend: 'redis', redis: { url } }, 'state').issues.map((i) => `${i.path}: ${i.message}`);

describe('state.redis.url', () => {
  it('takes a host with or without port, credentials and a database number', () => {
    for (const ok of ['redis://127.0.0.1:6379', 'redis://127.0.0.1', 'rediss://:s3cret@redis.example:6380/2', 'redis://user:p%2Fss@[::1]:6379/0']) assert.deepEqual(problems(ok), [], ok);
  });

  it('refuses a port that is no number, a path that is no database, and no host; never quoting the password', () => {
    const bad = ['redis://:s3cret-pw@127.0.0.1:notaport', 'redis://127.0.0.1:6379/keys', 'redis://:s3cret-pw@/0'];
    for (const url of bad) {
      const found = problems(url);
      assert.equal(found.length, 1, `${url}: ${found.join('; ')}`);
      assert.match(found[0], /^state\.redis\.url: /);
      assert.doesNotMatch(found[0], /s3cret/);
    }
  });
});
