// Imported first by the benches that drive the test worlds (bench/push.ts, bench/run.ts), before
// test/support/cli-world.ts reads BF_TEST_CLI: their ticks and serve then run the bundle, as the
// image's pods do, not the TypeScript sources (which pay type stripping on every start).
// The bundle itself is built by the bench before it runs anything (scripts/build.ts).
import { join } from 'node:path';

export const BUNDLE_CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');
process.env['BF_TEST_CLI'] ||= BUNDLE_CLI;
