// resolveOptions: values checked against their specs, unknown keys refused with a "did you mean",
// objects handed on between parts named by their path; list and requireOption messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bool, list, nestedOptions, num, optionalStr, optionsPlace, requireOption, resolveOptions } from '../../src/options/spec.js';
import { suggestOption } from '../../src/options/suggest.js';
import { refuses } from '../helpers/options.js';

const specs = {
  maxItems: num({ doc: 'd', default: 5, min: 1, max: 10, integer: true }),
  enabled: bool({ doc: 'd', default: true }),
  token: optionalStr({ doc: 'd', default: undefined, secret: true }),
  paths: list({ doc: 'd', default: [], item: /^\//, itemText: 'paths starting with /', maxItems: 3 }),
};

test('known keys pass through; keys outside the specs and `known` are refused with the closest name', () => {
  const logger = { warn() {} };
  const o = resolveOptions('make', specs, { maxItems: 7, logger }, ['logger']);
  assert.equal(o.maxItems, 7);
  assert.equal(o.enabled, true);
  assert.equal(o.logger, logger);
  refuses(() => resolveOptions('make', specs, { maxItem: 7 }), 'make: maxItem: unknown option; did you mean maxItems?');
  refuses(() => resolveOptions('make', specs, { loger: logger }, ['logger']), 'make: loger: unknown option; did you mean logger?');
  // No close name: no guess. An unknown key set to undefined is still a typo.
  refuses(() => resolveOptions('make', specs, { colour: 'red' }), 'make: colour: unknown option');
  refuses(() => resolveOptions('make', specs, { enable: undefined }), 'make: enable: unknown option; did you mean enabled?');
  // Every problem at once: bad values first, then unknown keys.
  refuses(
    () => resolveOptions('make', specs, { maxItems: 0, token: '', tokn: 'x' }),
    'make: maxItems=0: must be an integer between 1 and 10; token=<hidden>: must be a string of 1 to 4096 characters; tokn: unknown option; did you mean token?',
  );
});

test('options that are not an object are refused', () => {
  for (const given of ['fast', 5, null, [1]])
    refuses(() => resolveOptions('make', specs, given as never), 'make: options must be an object');
  assert.deepEqual(resolveOptions('make', specs, undefined).paths, []);
});

test('a list says "array" to a library caller and "comma-separated" only where a variable is written', () => {
  refuses(
    () => resolveOptions('make', specs, { paths: 'hook' }),
    'make: paths="hook": must be an array of at most 3 paths starting with /',
  );
  const withEnv = list({ env: 'SOME_LIST', doc: 'd', default: [], itemText: 'origins' });
  assert.equal(withEnv.accepted, 'must be a list of at most 256 origins (an array; comma-separated in the variable and the flag)');
  assert.deepEqual(resolveOptions('make', specs, { paths: '/a, /b' }).paths, ['/a', '/b']);
  // A boolean or a number is not a list of one (an origin list given `true` would hold "true").
  refuses(() => resolveOptions('make', specs, { paths: true }), 'make: paths=true: must be an array of at most 3 paths starting with /');
  refuses(() => resolveOptions('make', specs, { paths: 7 }), 'make: paths=7: must be an array of at most 3 paths starting with /');
  // Nor is a number an item (an origin list given [5] would hold "5").
  const plain = list({ doc: 'd', default: [] });
  assert.equal(plain.parse(['a', 5]), undefined);
  assert.equal(plain.parse([true]), undefined);
  assert.deepEqual(plain.parse([' a', 'b ']), ['a', 'b']);
});

test('an object handed on to another part is named by its path in the first part’s options', () => {
  const outer = { proxy: { prefx: '/v1' } };
  const inner = nestedOptions(outer.proxy, 'createHeadroom', outer, 'proxy');
  assert.deepEqual(Object.keys(inner), ['prefx'], 'the mark is not an option');
  assert.deepEqual({ ...inner }, { prefx: '/v1' });
  assert.equal(JSON.stringify(inner), '{"prefx":"/v1"}');
  assert.notEqual(inner, outer.proxy, 'a copy: the caller’s object is left alone');
  assert.deepEqual(optionsPlace('createProxy', inner), { factory: 'createHeadroom', prefix: 'proxy.' });
  assert.deepEqual(optionsPlace('createProxy', outer.proxy), { factory: 'createProxy', prefix: '' });
  refuses(
    () => resolveOptions('createProxy', { prefix: specs.maxItems }, inner),
    'createHeadroom: proxy.prefx: unknown option; did you mean prefix?',
  );
  refuses(
    () => resolveOptions('createProxy', specs, nestedOptions({ maxItems: 50 }, 'createHeadroom', outer, 'proxy')),
    'createHeadroom: proxy.maxItems=50: must be an integer between 1 and 10',
  );
  // Nested twice: the path grows, the factory is the outermost.
  const limits = nestedOptions({ queue: 1 }, 'createProxy', inner, 'limits');
  assert.deepEqual(optionsPlace('createAdmission', limits), { factory: 'createHeadroom', prefix: 'proxy.limits.' });
  // '' stands for the parent itself (an adapter handing its options, less its own, to createHeadroom).
  assert.deepEqual(optionsPlace('createHeadroom', nestedOptions({}, 'headroom (Fastify plugin)', {}, '')), {
    factory: 'headroom (Fastify plugin)',
    prefix: '',
  });
  refuses(() => nestedOptions(5 as never, 'createHeadroom', outer, 'monitor'), 'createHeadroom: monitor must be an options object');
  refuses(() => requireOption('createProxy', 'token', specs.token, undefined, inner), /^createHeadroom: proxy.token is required: /);
});

test('requireOption names the option where the user wrote it', () => {
  refuses(
    () => requireOption('createProxy', 'upstreamUrl', specs.token, undefined),
    'createProxy: upstreamUrl is required: must be a string of 1 to 4096 characters',
  );
  assert.equal(requireOption('createProxy', 'upstreamUrl', specs.token, 'x'), 'x');
});

test('suggestOption: edit distance, then whole camelCase words', () => {
  const names = ['criticalThreshold', 'warningThreshold', 'raw', 'keyPrefix', 'maxBytes'];
  assert.equal(suggestOption('criticalTreshold', names), 'criticalThreshold');
  assert.equal(suggestOption('MAXBYTES', names), 'maxBytes');
  assert.equal(suggestOption('critical', names), 'criticalThreshold');
  assert.equal(suggestOption('rawPath', names), 'raw');
  assert.equal(suggestOption('prefix', names), 'keyPrefix');
  assert.equal(suggestOption('colour', names), undefined);
  assert.equal(suggestOption('ma', names), undefined, 'too short to guess from');
});

test('a refused value is shown on one bounded line, as a configuration value is (a huge array is not the message)', () => {
  const specs = { maxBytes: num({ doc: 'A size.', default: 1, min: 0, max: 10 }) };
  assert.throws(
    () => resolveOptions('createThing', specs, { maxBytes: Array.from({ length: 100_000 }, (_, i) => i) as never }),
    (err: Error) => {
      assert.match(err.message, /^createThing: maxBytes=\[0,1,2,[0-9,]*… \(588891 characters\): must be/);
      assert.ok(err.message.length < 500, `${err.message.length} characters`);
      return true;
    },
  );
});
