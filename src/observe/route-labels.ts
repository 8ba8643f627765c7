// Route labels shared by the metrics, the request accounting and the route heap attribution; a
// module of its own so that a part that needs only the names does not load prom-client.

/** The route label of a request no route matched (404s, 405s, scans). */
export const UNMATCHED_ROUTE = 'unmatched';
