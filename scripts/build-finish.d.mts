/** See build-finish.mjs. */
export function finishBuild(root: string, dist: string): void;
