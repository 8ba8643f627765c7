// If-None-Match (RFC 9110 §13.1.2): the one comparison behind every 304 headroom answers — the
// proxy's cached responses, the image service's and the dashboard's files.

/** True when If-None-Match is `*` or lists the ETag; weak comparison (a W/ prefix is ignored on both sides). */
export function etagMatches(ifNoneMatch: string | undefined, etag: string | null | undefined): boolean {
  if (!ifNoneMatch || !etag) return false;
  if (ifNoneMatch.trim() === '*') return true;
  const strip = (t: string): string => t.trim().replace(/^W\//, '');
  const want = strip(etag);
  return ifNoneMatch.split(',').some((t) => strip(t) === want);
}
