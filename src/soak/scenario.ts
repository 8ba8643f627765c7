// The requests a soak sends: method, path, headers, body and weight, picked in a deterministic
// smooth weighted round-robin (the same sequence every run, so two runs load the service alike).

export interface ScenarioRequest {
  method: string;
  /** Path and query, starting with "/". */
  path: string;
  headers?: Record<string, string>;
  /** A string is sent as is; any other JSON value is serialised (content-type: application/json). */
  body?: string;
  /** Relative share of the traffic; default 1. */
  weight: number;
}

export const DEFAULT_SCENARIO: readonly ScenarioRequest[] = [{ method: 'GET', path: '/', weight: 1 }];

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * Checks a scenario (a parsed JSON value: an array of requests, or { requests: [...] }) and
 * returns it normalised. Throws a TypeError naming every problem at once.
 */
export function parseScenario(value: unknown): ScenarioRequest[] {
  const list = Array.isArray(value) ? value : (value as { requests?: unknown } | null)?.requests;
  if (!Array.isArray(list) || list.length === 0)
    throw new TypeError('scenario: expected a non-empty array of requests, or an object { "requests": [...] }');
  const problems: string[] = [];
  const out: ScenarioRequest[] = [];
  list.forEach((raw: unknown, i) => {
    const at = `scenario request ${i}`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      problems.push(`${at}: expected an object with method, path, headers, body, weight`);
      return;
    }
    const r = raw as Record<string, unknown>;
    for (const key of Object.keys(r))
      if (!['method', 'path', 'headers', 'body', 'weight'].includes(key))
        problems.push(`${at}: unknown key "${key}" (accepted: method, path, headers, body, weight)`);
    const method = r.method === undefined ? 'GET' : String(r.method).toUpperCase();
    if (!METHODS.has(method)) problems.push(`${at}: method "${String(r.method)}" is not one of ${[...METHODS].join(', ')}`);
    const path = r.path === undefined ? '/' : r.path;
    if (typeof path !== 'string' || !path.startsWith('/')) problems.push(`${at}: path must be a string starting with "/"`);
    const weight = r.weight === undefined ? 1 : r.weight;
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0 || weight > 1e6)
      problems.push(`${at}: weight must be a number above 0 and at most 1000000`);
    const headers: Record<string, string> = {};
    if (r.headers !== undefined) {
      if (typeof r.headers !== 'object' || r.headers === null || Array.isArray(r.headers))
        problems.push(`${at}: headers must be an object of strings`);
      else
        for (const [k, v] of Object.entries(r.headers)) {
          if (typeof v !== 'string' && typeof v !== 'number') problems.push(`${at}: header "${k}" must be a string`);
          else headers[k.toLowerCase()] = String(v);
        }
    }
    let body: string | undefined;
    if (r.body !== undefined && r.body !== null) {
      if (method === 'GET' || method === 'HEAD') problems.push(`${at}: a ${method} request takes no body`);
      body = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
      if (typeof r.body !== 'string') headers['content-type'] ??= 'application/json';
    }
    out.push({ method, path: String(path), headers, weight: Number(weight), ...(body === undefined ? {} : { body }) });
  });
  if (problems.length > 0) throw new TypeError(problems.join('\n'));
  return out;
}

/** Smooth weighted round-robin (nginx's): the next request each call, spread evenly by weight. */
export function createPicker(requests: readonly ScenarioRequest[]): () => ScenarioRequest {
  const current = requests.map(() => 0);
  const total = requests.reduce((s, r) => s + r.weight, 0);
  return () => {
    let best = 0;
    for (let i = 0; i < requests.length; i++) {
      current[i]! += requests[i]!.weight;
      if (current[i]! > current[best]!) best = i;
    }
    current[best]! -= total;
    return requests[best]!;
  };
}
