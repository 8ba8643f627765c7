// headroom-memory/errors: the error registry for library users. Every error a part raises on purpose is a
// HeadroomError with a stable code that maps to one HTTP status (docs/errors.md).
export { ERRORS, HeadroomError, isErrorCode, isHeadroomError, statusOf } from './errors.js';
export type { ErrorCode, HeadroomErrorOptions } from './errors.js';
