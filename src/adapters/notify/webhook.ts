import type { Notification } from '../../core/notifications.ts';
import { shortSha } from '../../core/primitives.ts';
import type { Notifier } from '../ports.ts';
import { HttpRequestError, httpRequest } from '../http/request.ts';

/**
 * Slack-compatible incoming-webhook notifications for Succeeded, Failed and Blocked. A failing,
 * slow or absent endpoint never fails the tick (the state write that caused it has already
 * happened): a failure a later try may fix is thrown, and the notification stays in the
 * follower's outbox for a later tick (core/outbox.ts); one no retry fixes is logged and dropped. The message carries only the
 * follower id, phase, sha, attempt, run, reason and an idempotency key (the run name and phase:
 * a receiver that sees a key twice drops the second); the URL (a secret: it embeds the token)
 * is never logged.
 */

export type WebhookOptions = { url: string | undefined; timeoutMs?: number; log?: (msg: string) => void };

const ICON: Record<string, string> = { Succeeded: ':white_check_mark:', Failed: ':x:', Blocked: ':no_entry:' };

// Slack's mrkdwn treats these three as control characters; everything else passes as is.
const escape = (s: string): string => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

/** The JSON body posted for one notification: `text` for every receiver, `blocks` for Slack. */
export const webhookPayload = (n: Notification) => {
  const sha = n.sha ?? 'none';
  const attempt = n.attempt === null ? '-' : String(n.attempt);
  const icon = ICON[n.phase] ?? ':information_source:';
  return {
    idempotencyKey: n.idempotencyKey,
    followerId: n.id,
    phase: n.phase,
    sha: n.sha,
    attempt: n.attempt,
    run: n.run,
    text: `${icon} ${escape(n.id)} ${n.phase}: ${shortSha(n.sha)} (attempt ${attempt}${n.run ? `, run ${n.run}` : ''}): ${escape(n.reason)}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `${icon} *${escape(n.id)}* is *${n.phase}*` } },
      {
        type: 'section',
        fields: [
          { type: 'mrkdwn', text: `*Follower*\n${escape(n.id)}` },
          { type: 'mrkdwn', text: `*Phase*\n${n.phase}` },
          { type: 'mrkdwn', text: `*Sha*\n\`${sha}\`` },
          { type: 'mrkdwn', text: `*Attempt*\n${attempt}` },
        ],
      },
      // Slack caps a text object at 3000 characters; a reason is at most 2000.
      { type: 'section', text: { type: 'mrkdwn', text: `*Reason*\n${escape(n.reason)}`.slice(0, 3000) } },
    ],
  };
};

const describeError = (e: unknown): string => {
  if (e instanceof HttpRequestError) return e.aborted ? 'timed out' : e.code && !e.message.includes(e.code) ? `${e.message} (${e.code})` : e.message;
  return e instanceof Error ? e.message : String(e);
};

/**
 * A delivery a later try may get through (a 5xx or 429 answer, a refused or dropped connection,
 * a timeout): thrown, so the notification stays in the outbox and a later tick sends it again
 * under the same idempotency key. Its message never holds the URL.
 */
export class WebhookRetryableError extends Error {
  override name = 'WebhookRetryableError';
}

const retryable = (status: number): boolean => status === 429 || status >= 500;

export const createWebhookNotifier = (opts: WebhookOptions): Notifier => {
  const url = opts.url?.trim() || undefined;
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const log = opts.log ?? ((msg: string) => process.stderr.write(`${msg}\n`));
  const validUrl = url !== undefined && URL.canParse(url) && ['http:', 'https:'].includes(new URL(url).protocol);
  return {
    async notify(n) {
      if (!url) return;
      const what = `${n.id} ${n.phase} ${shortSha(n.sha)}`;
      // What no retry can fix (no usable URL, a 4xx answer) is logged and dropped.
      if (!validUrl) {
        log(`webhook notification for ${what} skipped: the webhook URL is not an http(s) URL`);
        return;
      }
      let status: number;
      try {
        const signal = AbortSignal.timeout(timeoutMs);
        // A redirect is an answer, not followed: it is neither success nor worth another try.
        const res = await httpRequest(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': n.idempotencyKey },
          body: JSON.stringify(webhookPayload(n)),
          signal,
        });
        status = res.status;
        // Drain the body within the same deadline so the connection is released.
        await res.read(1 << 20).catch(() => undefined);
      } catch (e) {
        throw new WebhookRetryableError(`webhook notification for ${what} failed: ${describeError(e).replaceAll(url, '<webhook url>')}`);
      }
      if (status >= 200 && status < 300) return;
      if (retryable(status)) throw new WebhookRetryableError(`webhook notification for ${what} failed: HTTP ${status}`);
      log(`webhook notification for ${what} failed: HTTP ${status} (not retried)`);
    },
  };
};
