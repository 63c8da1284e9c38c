import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LambdaClient } from '@aws-sdk/client-lambda';

/**
 * A Lambda Invoke-compatible endpoint on 127.0.0.1 (REST-JSON `POST /2015-03-31/functions/{name}/invocations`)
 * that runs registered handlers in-process, so code using the real `@aws-sdk/client-lambda` is tested over
 * the real protocol. Handler errors come back as the service does: 200 with `X-Amz-Function-Error: Unhandled`
 * and a `{errorType, errorMessage}` payload.
 */
export type InvokeHandler = (event: unknown) => Promise<unknown>;

export interface LambdaServer {
  endpoint: string;
  client: LambdaClient;
  invocations: { name: string; payload: unknown }[];
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startLambdaServer(handlers: Record<string, InvokeHandler>): Promise<LambdaServer> {
  const invocations: { name: string; payload: unknown }[] = [];
  const server = createServer(async (req, res) => {
    const m = /^\/2015-03-31\/functions\/([^/]+)\/invocations/.exec(req.url ?? '');
    const text = await body(req);
    if (req.method !== 'POST' || !m) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ Type: 'User', message: 'Not found' }));
      return;
    }
    const name = decodeURIComponent(m[1]!);
    const handler = handlers[name] ?? handlers[name.split(':').pop() ?? ''];
    if (!handler) {
      res.writeHead(404, {
        'content-type': 'application/json',
        'x-amzn-errortype': 'ResourceNotFoundException',
      });
      res.end(JSON.stringify({ Type: 'User', message: `Function not found: ${name}` }));
      return;
    }
    const payload = text ? JSON.parse(text) : {};
    invocations.push({ name, payload });
    try {
      const out = await handler(payload);
      res.writeHead(200, { 'content-type': 'application/json', 'x-amz-executed-version': '$LATEST' });
      res.end(JSON.stringify(out ?? null));
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      res.writeHead(200, { 'content-type': 'application/json', 'x-amz-function-error': 'Unhandled' });
      res.end(JSON.stringify({ errorType: e.name, errorMessage: e.message }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new LambdaClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  return {
    endpoint,
    client,
    invocations,
    close: () =>
      new Promise<void>((resolve) => {
        client.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
