// src/proxy/headers.ts: absolute-form request targets (RFC 9112 §3.2.2) cut to origin-form, and the
// Host they name checked against the Host header; trusted X-Forwarded-Proto/-Host, and the cache
// key built from the origin they give.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { responseCacheKey } from '../../src/proxy/cache-tee.js';
import { absoluteForm, authorityProblem, createHeaderRules, newHeaderInfo, originForm } from '../../src/proxy/headers.js';

test('absoluteForm and originForm: the path and query as sent, dot segments and encodings kept', () => {
  assert.deepEqual(absoluteForm('http://a.example/api/x?q=1'), { authority: 'a.example', path: '/api/x?q=1' });
  assert.deepEqual(absoluteForm('HTTPS://A.example:8443'), { authority: 'A.example:8443', path: '/' });
  assert.deepEqual(absoluteForm('http://a.example?q=1'), { authority: 'a.example', path: '/?q=1' });
  assert.equal(originForm('http://a.example/api/../%2e%2e/x'), '/api/../%2e%2e/x');
  for (const other of ['/api/x', '*', 'a.example:443', 'ftp://a.example/x', '//a.example/x']) {
    assert.equal(absoluteForm(other), undefined, other);
    assert.equal(originForm(other), other);
  }
});

test('authorityProblem: the target must name the Host header (any case) and be a host[:port]', () => {
  const host = (value: string): string[] => ['Accept', '*/*', 'Host', value];
  assert.equal(authorityProblem('http://a.example/x', host('A.Example')), undefined);
  assert.equal(authorityProblem('http://a.example:8080/x', host('a.example:8080')), undefined);
  assert.equal(authorityProblem('http://a.example/x', ['Accept', '*/*']), undefined, 'HTTP/1.0 without Host: the target names it');
  assert.equal(authorityProblem('/x', host('b.example')), undefined, 'origin-form is not judged here');
  assert.match(authorityProblem('http://b.example/x', host('a.example'))!, /names b\.example but the Host header a\.example/);
  assert.match(authorityProblem('http://a.example:80/x', host('a.example'))!, /names a\.example:80/);
  assert.match(authorityProblem('http://u:p@a.example/x', host('a.example'))!, /"u:p@a\.example" is not a valid host\[:port\]/);
  assert.match(authorityProblem('http:///x', host('a.example'))!, /"" is not a valid host/);
});

test('trusted X-Forwarded-Proto/-Host are believed only as http(s) and a host[:port], as Host must be', () => {
  const rules = createHeaderRules({ trustForwarded: true });
  const forwarded = (proto: string, host: string): { origin: string; sent: [string | undefined, string | undefined] } => {
    const info = newHeaderInfo();
    rules.webRequest(new Headers({ host: 'shop.example', 'x-forwarded-proto': proto, 'x-forwarded-host': host }), '10.0.0.1', 'http', info);
    const sent = (name: string): string | undefined => info.headers[info.headers.indexOf(name) + 1];
    return { origin: info.origin, sent: [sent('x-forwarded-proto'), sent('x-forwarded-host')] };
  };
  assert.deepEqual(forwarded('https', 'Cdn.Example:8443'), { origin: 'https://cdn.example:8443', sent: ['https', 'Cdn.Example:8443'] });
  assert.deepEqual(forwarded('HTTPS', '[::1]:8080'), { origin: 'https://[::1]:8080', sent: ['HTTPS', '[::1]:8080'] });
  for (const [proto, host] of [
    ['ftp', 'shop.example/cfoo'],
    ['https://evil', 'shop.example?x'],
    ['http/1.1', 'a.example, b.example'],
    ['', 'shop.example#x'],
  ]) {
    assert.deepEqual(forwarded(proto!, host!), { origin: 'http://shop.example', sent: ['http', 'shop.example'] }, `${proto} ${host}`);
  }
});

test('the response cache key keeps origin, mount and path apart', () => {
  assert.notEqual(responseCacheKey('http://shop.example/cfoo', '/cbar'), responseCacheKey('http://shop.example', '/cfoo/cbar'));
  assert.notEqual(responseCacheKey('http://shop.example', '/v2/x'), responseCacheKey('http://shop.example', '/x', '/v2'));
  assert.notEqual(responseCacheKey('http://shop.example', '/x', '/v2'), responseCacheKey('http://shop.example/v2', '/x'));
});
