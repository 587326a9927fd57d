// What an unlinked customer is told: both the not_linked hint and GET / name `hypha link`, never `hypha id sign` of a challenge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errors, errorBody } from '../../src/gateway/http/public-error.js';
import { welcomeText } from '../../src/gateway/http/public-routes.js';

const URL = 'http://[5a1:2:3:4::1]:8480';

test('the not_linked hint names hypha link with this gateway\'s URL', () => {
  const body = errorBody(errors.notLinked(URL));
  assert.equal(body.error.code, 'not_linked');
  const hint = String(body.error.hint);
  assert.ok(hint.includes(`hypha link --gateway ${URL} --key YOUR.key`), hint);
  assert.doesNotMatch(hint, /hypha id sign/);
});

test('GET / for an unlinked /64 says to run hypha link on this machine', () => {
  const text = welcomeText({ address: '5bb:1:2:3::9', subnet: '5bb:1:2:3::/64', roles: [] }, { agent: 'uhCAkGateway', url: URL });
  assert.match(text, /This \/64 is not linked to a Unyt identity yet/);
  assert.ok(text.includes(`  hypha link --gateway ${URL} --key YOUR.key`), text);
  assert.doesNotMatch(text, /hypha id sign/);
});
