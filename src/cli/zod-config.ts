import { z } from 'zod';

// zod's global configuration, set before any schema exists: each object schema reads it once, when
// it is made, not when it parses (zod/v4/core/schemas.js: `const jit = !globalConfig.jitless`).
// Imported first by both entries (src/cli.ts, src/snapshot-entry.ts), so every schema sees it.
//
// jitless: zod would compile a fast path per object schema with new Function on its first parse;
// a process that lives for one command pays the compile and barely uses it, and ticks run without
// V8's optimising tiers, which are what would make that path fast. Same results either way
// (measured: no difference at 1000 followers, docs/performance.md change 21).
z.config({ jitless: true });
