// A stand-in upstream for when UPSTREAM_URL is not set: answers what it received.
export const dynamic = 'force-dynamic';

async function echo(request) {
  const url = new URL(request.url);
  return Response.json({ demo: true, method: request.method, url: url.pathname.replace(/^\/demo/, '') + url.search });
}
export { echo as GET, echo as POST, echo as PUT, echo as PATCH, echo as DELETE };
