import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in S3 endpoint that answers every request with one S3 error, in S3's REST error format
 * (`<Error><Code>…</Code><Message>…</Message></Error>`), for the setup problems s3rver cannot produce
 * (it has no IAM: AccessDenied, InvalidAccessKeyId, PermanentRedirect). Counts the requests it refused.
 */
export interface S3ErrorServer {
  endpoint: string;
  requests: { method: string; url: string }[];
  close(): Promise<void>;
}

export async function startS3ErrorServer(
  status: number,
  code: string,
  message = code,
): Promise<S3ErrorServer> {
  const requests: { method: string; url: string }[] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '' });
    req.resume();
    req.on('end', () => {
      const body =
        '<?xml version="1.0" encoding="UTF-8"?>\n' +
        `<Error><Code>${code}</Code><Message>${message}</Message>` +
        `<RequestId>0000000000000000</RequestId><HostId>stand-in</HostId></Error>`;
      res.writeHead(status, {
        'content-type': 'application/xml',
        'content-length': Buffer.byteLength(body),
        'x-amz-request-id': '0000000000000000',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
