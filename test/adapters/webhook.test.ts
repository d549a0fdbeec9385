import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Notification } from '../../src/core/notifications.ts';
import { createWebhookNotifier, WebhookRetryableError } from '../../src/adapters/notify/webhook.ts';

type Received = { method: string; url: string; contentType: string | undefined; idempotencyKey: string | undefined; body: string };

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

/** A real HTTP receiver on 127.0.0.1 that records every request and answers with `respond`. */
const receiver = async (respond: (req: IncomingMessage, res: ServerResponse) => void = (_q, res) => res.end('ok')) => {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (b: Buffer) => (body += b.toString('utf8')));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'], idempotencyKey: req.headers['idempotency-key'] as string | undefined, body });
      respond(req, res);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return { received, url: `http://127.0.0.1:${port}/services/T000/B000/secret-token` };
};

const closedPort = async (): Promise<number> => {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
};

const failed: Notification = {
  id: 'hwlab-jd01-v03',
  phase: 'Failed',
  sha: '0123456789abcdef0123456789abcdef01234567',
  attempt: 2,
  run: 'bf-hwlab-jd01-v03-0123456789ab-e4-a2',
  idempotencyKey: 'bf-hwlab-jd01-v03-0123456789ab-e4-a2/Failed',
  reason: 'trigger failed: exit code 3 <see logs> & retry',
  at: '2026-01-01T00:00:00.000Z',
};

describe('webhook notifier', () => {
  it('posts exactly the Slack-compatible JSON, with nothing but id, phase, sha, attempt, run, reason and the idempotency key', async () => {
    const rx = await receiver();
    const logs: string[] = [];
    await createWebhookNotifier({ url: rx.url, log: (m) => logs.push(m) }).notify(failed);
    expect(rx.received).toHaveLength(1);
    const got = rx.received[0]!;
    expect(got.method).toBe('POST');
    expect(got.url).toBe('/services/T000/B000/secret-token');
    expect(got.contentType).toBe('application/json');
    // A receiver drops a second delivery of the same key: in the body and as a header.
    expect(got.idempotencyKey).toBe('bf-hwlab-jd01-v03-0123456789ab-e4-a2/Failed');
    expect(JSON.parse(got.body)).toEqual({
      idempotencyKey: 'bf-hwlab-jd01-v03-0123456789ab-e4-a2/Failed',
      followerId: 'hwlab-jd01-v03',
      phase: 'Failed',
      sha: '0123456789abcdef0123456789abcdef01234567',
      attempt: 2,
      run: 'bf-hwlab-jd01-v03-0123456789ab-e4-a2',
      text: ':x: hwlab-jd01-v03 Failed: 0123456789ab (attempt 2, run bf-hwlab-jd01-v03-0123456789ab-e4-a2): trigger failed: exit code 3 &lt;see logs&gt; &amp; retry',
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: ':x: *hwlab-jd01-v03* is *Failed*' } },
        {
          type: 'section',
          fields: [
            { type: 'mrkdwn', text: '*Follower*\nhwlab-jd01-v03' },
            { type: 'mrkdwn', text: '*Phase*\nFailed' },
            { type: 'mrkdwn', text: '*Sha*\n`0123456789abcdef0123456789abcdef01234567`' },
            { type: 'mrkdwn', text: '*Attempt*\n2' },
          ],
        },
        { type: 'section', text: { type: 'mrkdwn', text: '*Reason*\ntrigger failed: exit code 3 &lt;see logs&gt; &amp; retry' } },
      ],
    });
    expect(logs).toEqual([]);
  });

  it('words a notification without a sha or attempt', async () => {
    const rx = await receiver();
    await createWebhookNotifier({ url: rx.url }).notify({ ...failed, phase: 'Blocked', sha: null, attempt: null, run: null, idempotencyKey: 'hwlab-jd01-v03/-e0/Blocked', reason: 'source branch missing' });
    const body = JSON.parse(rx.received[0]!.body) as { text: string; blocks: { fields?: { text: string }[] }[] };
    expect(body.text).toBe(':no_entry: hwlab-jd01-v03 Blocked: - (attempt -): source branch missing');
    expect(body.blocks[1]!.fields!.map((f) => f.text)).toEqual(['*Follower*\nhwlab-jd01-v03', '*Phase*\nBlocked', '*Sha*\n`none`', '*Attempt*\n-']);
  });

  it('does nothing without a url', async () => {
    const rx = await receiver();
    for (const url of [undefined, '', '   ']) await createWebhookNotifier({ url }).notify(failed);
    expect(rx.received).toEqual([]);
  });

  it('throws (kept in the outbox for a later tick) when the endpoint answers 500 or 429, never naming the url', async () => {
    for (const status of [500, 503, 429]) {
      const rx = await receiver((_q, res) => {
        res.statusCode = status;
        res.end('boom');
      });
      const logs: string[] = [];
      const err = await createWebhookNotifier({ url: rx.url, log: (m) => logs.push(m) }).notify(failed).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WebhookRetryableError);
      expect((err as Error).message).toBe(`webhook notification for hwlab-jd01-v03 Failed 0123456789ab failed: HTTP ${status}`);
      expect(rx.received).toHaveLength(1);
      expect(logs).toEqual([]);
    }
  });

  it('logs and drops what no retry fixes: a 4xx answer', async () => {
    const rx = await receiver((_q, res) => {
      res.statusCode = 404;
      res.end('no such hook');
    });
    const logs: string[] = [];
    await expect(createWebhookNotifier({ url: rx.url, log: (m) => logs.push(m) }).notify(failed)).resolves.toBeUndefined();
    expect(logs).toEqual(['webhook notification for hwlab-jd01-v03 Failed 0123456789ab failed: HTTP 404 (not retried)']);
  });

  it('throws when nothing listens, without the url', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/secret-token`;
    const err = await createWebhookNotifier({ url }).notify(failed).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WebhookRetryableError);
    expect((err as Error).message).toMatch(/^webhook notification for hwlab-jd01-v03 Failed 0123456789ab failed: .*ECONNREFUSED/);
    expect((err as Error).message).not.toContain('secret-token');
  });

  it('gives up on a slow endpoint after its timeout, and throws', async () => {
    const rx = await receiver(() => {
      // never answers
    });
    await expect(createWebhookNotifier({ url: rx.url, timeoutMs: 300 }).notify(failed)).rejects.toThrow(new WebhookRetryableError('webhook notification for hwlab-jd01-v03 Failed 0123456789ab failed: timed out'));
  });

  it('logs a url that is not an http(s) url instead of throwing, without echoing it', async () => {
    const logs: string[] = [];
    for (const url of ['not a url with secret-token', 'file:///etc/secret-token']) {
      await expect(createWebhookNotifier({ url, log: (m) => logs.push(m) }).notify(failed)).resolves.toBeUndefined();
    }
    expect(logs).toEqual(Array(2).fill('webhook notification for hwlab-jd01-v03 Failed 0123456789ab skipped: the webhook URL is not an http(s) URL'));
  });
});
