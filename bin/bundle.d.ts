// Types of bundle.js, for the tests that import it.
/** `<root>/dist/cli.js` when it is at least as new as everything it is built from, else null. */
export declare const currentBundle: (root: string) => string | null;
