// A real HTTP webhook receiver on 127.0.0.1 for end-to-end tests: records every JSON body it is
// posted, with the request's idempotency-key header, and answers with `status`.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Received = { text: string; body: Record<string, unknown>; idempotencyKey: string | undefined };

export const webhookReceiver = async (status = 200): Promise<{ url: string; got: Received[]; server: Server }> => {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('end', () => {
      const body = JSON.parse(data) as Record<string, unknown>;
      got.push({ text: String(body.text), body, idempotencyKey: req.headers['idempotency-key'] as string | undefined });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'nope');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, server };
};
