// Admission control, shared by the proxy and the image routes: the contract both accept
// (types.ts) and headroom's controller with its memory circuit breaker.
export { createAdmission, type AdmissionOptions, type HeadroomAdmission, type Sheddable } from './admission.js';
export type { Admission, AdmissionStats, Release } from './types.js';
