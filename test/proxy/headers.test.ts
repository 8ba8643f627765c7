// src/proxy/headers.ts: absolute-form request targets (RFC 9112 §3.2.2) cut to origin-form, and the
// Host they name checked against the Host header.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { absoluteForm, authorityProblem, originForm } from '../../src/proxy/headers.js';

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
