// The admission-control contract shared by the proxy and image routes. The gateway creates one
// admission controller (admission.ts) and hands it to both.

/** Gives the slot back; idempotent. */
export type Release = () => void;

export interface AdmissionStats {
  inFlight: number;
  queued: number;
  maxConcurrent: number;
  /** 0 = clients are not limited one by one. */
  maxPerClient: number;
  /** Clients holding at least one slot (in flight or queued), counted only while maxPerClient is set. */
  clients: number;
  queueSize: number;
  breakerOpen: boolean;
  rejected: { concurrency: number; queueTimeout: number; memory: number; draining: number; client: number };
  shed: number;
}

export interface Admission {
  /**
   * Resolves with a release function once a slot is free. Rejects with a HeadroomError
   * (HEADROOM_MEMORY_PRESSURE, HEADROOM_OVERLOADED, HEADROOM_QUEUE_TIMEOUT, HEADROOM_DRAINING,
   * HEADROOM_CLIENT_LIMIT), each carrying a Retry-After header. An aborted signal removes the
   * waiter from the queue. `client` (an address) is held to maxPerClient.
   */
  acquire(options?: { signal?: AbortSignal; client?: string }): Promise<Release>;
  stats(): AdmissionStats;
  close(): Promise<void>;
}
