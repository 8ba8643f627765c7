// Path text shared by the toolkit and the adapters.

/** `/health/` and `/health//` → `/health`; `/` (or only slashes) stays `/`. */
export const withoutTrailingSlashes = (path: string): string => (path.endsWith('/') ? path.replace(/\/+$/, '') || '/' : path);
