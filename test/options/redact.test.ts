import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactUrl, redactValue } from '../../src/options/redact.js';

test('redactUrl hides credential values and keeps paths, names and other values', () => {
  const cases: [string, string][] = [
    ['/health', '/health'],
    ['/x?page=2&q=a+b', '/x?page=2&q=a+b'],
    [
      '/x?token=T&access_token=A&Api-Key=K&apikey=K&client_secret=S&sig=G&code=C&auth=H&password=P',
      '/x?token=<hidden>&access_token=<hidden>&Api-Key=<hidden>&apikey=<hidden>&client_secret=<hidden>&sig=<hidden>&code=<hidden>&auth=<hidden>&password=<hidden>',
    ],
    [
      '/x?X-Amz-Signature=S&X-Goog-Credential=C&X%2DAmz%2DSecurity%2DToken=T',
      '/x?X-Amz-Signature=<hidden>&X-Goog-Credential=<hidden>&X%2DAmz%2DSecurity%2DToken=<hidden>',
    ],
    // Names that merely contain a short one are kept; empty values stay empty.
    ['/x?zipcode=1&monkey=2&token=&bare', '/x?zipcode=1&monkey=2&token=&bare'],
    // Under /admin every value goes, bare ones too; /administrator is not /admin.
    ['/admin/cache-stats?t=1&BARE', '/admin/cache-stats?t=<hidden>&<hidden>'],
    ['/admin?x=1', '/admin?x=<hidden>'],
    ['/administrator?x=1', '/administrator?x=1'],
    // A value that is a URL keeps host and path; all of its query values go.
    [
      `/image?url=${encodeURIComponent('https://i.example/a.jpg?s=1&w=2')}&w=400`,
      '/image?url=https%3A%2F%2Fi.example%2Fa.jpg%3Fs%3D<hidden>%26w%3D<hidden>&w=400',
    ],
    ['/image?url=https://i.example/a.jpg?s=1&w=400', '/image?url=https://i.example/a.jpg?s=<hidden>&w=400'],
    ['/image?url=https%3A%2F%2F%E0%A4%A', '/image?url=<hidden>'],
    ['/image?url=https://u:p@i.example/a.jpg', '/image?url=https://u:<hidden>@i.example/a.jpg'],
    ['http://svc:pw@h:8080/p', 'http://svc:<hidden>@h:8080/p'],
    ['http://TOKEN@h/', 'http://<hidden>@h/'],
    ['redis://:pw@127.0.0.1:6379/0', 'redis://:<hidden>@127.0.0.1:6379/0'],
    ['http://svc:p@ss@h/', 'http://svc:<hidden>@h/'],
    ['proxy:/api/x?token=abc', 'proxy:/api/x?token=<hidden>'],
  ];
  for (const [url, expected] of cases) assert.equal(redactUrl(url), expected, url);
});

test('redactValue also hides credentials of values that are not valid URLs', () => {
  assert.equal(redactValue('http://svc:pa/ss@h'), 'http://svc:<hidden>@h');
  assert.equal(redactValue('svc:pw@h:1'), 'svc:<hidden>@h:1');
  assert.equal(redactValue('https://a,https://u:pw@b'), 'https://a,https:<hidden>@b');
  assert.equal(redactValue('0.75'), '0.75');
});
