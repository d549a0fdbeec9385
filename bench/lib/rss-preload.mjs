// Preloaded (node --import) into a measured Node process where GNU time is missing: writes the
// process's peak resident set size in KiB to $BF_BENCH_RSS_FILE as it exits. Plain JavaScript:
// ticks run with --jitless, which turns off the WebAssembly Node strips TypeScript with.
import { writeFileSync } from 'node:fs';

const file = process.env.BF_BENCH_RSS_FILE;
if (file) {
  // The measured program must not see the variable (it could pass it on to its children).
  delete process.env.BF_BENCH_RSS_FILE;
  process.on('exit', () => {
    writeFileSync(file, `${process.resourceUsage().maxRSS}\n`);
  });
}
