/**
 * A monotonic stopwatch in seconds, on `process.hrtime`. The global `performance` is not used on
 * a tick's path: it is a lazy global whose first touch loads perf_hooks, a built-in a start-up
 * snapshot cannot hold (Node's list: lib/internal/main/mksnapshot.js), so every tick compiled it
 * again (~3 to 5 ms without a JIT; docs/performance.md, change 22).
 */
export const startStopwatch = (): (() => number) => {
  const started = process.hrtime.bigint();
  return () => Number(process.hrtime.bigint() - started) / 1e9;
};
