// One options object for every headroom export of the bench app: the defaults (monitor with its
// default sample interval, shedding on, admin API off without a token).
/** @type {import('headroom-memory/next').HeadroomOptions} */
export const headroomConfig = {};

/** The app runs with headroom only when BENCH_VARIANT=headroom (read at run time: one build serves both). */
export const withHeadroomOn = () => process.env.BENCH_VARIANT === 'headroom';
