// The parts of headroom a bench app can switch off after registering (BENCH_WITHOUT), shared by the
// apps that take it and bench/adapters' --base/--target (headroom-without:<parts>).
export const BENCH_PARTS: readonly string[] = ['gate', 'monitor'];
