// Route keys are domains as `domains` entries are: a mistyped key matched no recipient and its mail went elsewhere
// unsaid, and an IDN written in both of its forms made two keys of which the later silently won.
import assert from 'node:assert/strict';
import { ConfigError, validateConfig } from '../../../core/config/load.ts';

async function issues(routes: Record<string, unknown>): Promise<string[]> {
  try {
    await validateConfig({ routes });
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

describe('config: route keys', () => {
  it('takes domains, .domain and *.domain patterns, * and an IDN in either form', async () => {
    assert.deepEqual(await issues({ '*': 'mx', 'example.org': 'mx', '.sub.example.org': 'mx', '*.other.example': 'mx', 'bücher.example': 'mx', 'xn--mller-kva.example': 'mx' }), []);
  });

  it('refuses one domain named twice (an IDN in both forms, .x and *.x), several names in one key, and an address', async () => {
    assert.deepEqual(await issues({ 'bücher.example': 'mx', 'xn--bcher-kva.example': 'mx' }), ['routes.xn--bcher-kva.example: names the same domain as the route "bücher.example"; keep one']);
    assert.deepEqual(await issues({ '*.example.org': 'mx', '.example.org': 'mx' }), ['routes..example.org: names the same domain as the route "*.example.org"; keep one']);
    assert.deepEqual(await issues({ 'a.example, b.example': 'mx' }), ['routes.a.example, b.example: "a.example, b.example" is several names in one string; give each its own route: [a.example, b.example]']);
    assert.deepEqual(await issues({ 'user@x.example': 'mx' }), ['routes.user@x.example: "user@x.example" is not a domain name; write the part after the @ (x.example)']);
  });
});
