import { redact, secretNeedles } from '../core/redact.ts';

/**
 * The secrets this process knows, and the one function every outgoing text passes through
 * (core/redact.ts): URL userinfo masked, secret values replaced by `***`. The composition root
 * adds the values of the secrets the registry names (the notifier's webhook URL; a mirror
 * credential would join here) as soon as it has read them.
 */
export type Redactor = {
  add(values: readonly (string | undefined)[]): void;
  redact(text: string): string;
};

export const createRedactor = (): Redactor => {
  const values: string[] = [];
  let needles: string[] = [];
  return {
    add(more) {
      for (const v of more) if (v !== undefined && !values.includes(v)) values.push(v);
      needles = secretNeedles(values);
    },
    redact: (text) => redact(text, needles),
  };
};

export type TextSink = { write(s: string): unknown; isTTY?: boolean };

/** A stream whose every write is redacted first. */
export const redactingSink = (sink: TextSink, r: Redactor): TextSink => ({
  write: (s: string) => sink.write(r.redact(s)),
  ...(sink.isTTY !== undefined ? { isTTY: sink.isTTY } : {}),
});

/** Redacts a thrown error's message in place, so its class (ConflictError, ...) still tells what it is. */
export const redactError = (e: unknown, r: Redactor): unknown => {
  if (e instanceof Error) {
    const m = r.redact(e.message);
    if (m !== e.message) e.message = m;
  }
  return e;
};
