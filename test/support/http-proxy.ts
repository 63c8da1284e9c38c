import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A small forward HTTP proxy for tests, the kind a corporate network puts between us and the internet:
 * `CONNECT host:port` tunnels (what HTTPS clients, and undici's ProxyAgent for every target, use) and
 * absolute-form requests (`GET http://host/path`). The targets in tests speak plain HTTP, so the proxy reads
 * the requests inside each tunnel with Node's HTTP parser and forwards them one by one over its own sockets:
 * it counts every request it forwards, and a test can show that the target received no other.
 */
export interface HttpProxy {
  url: string;
  port: number;
  /** CONNECT tunnels opened, by target `host:port`. */
  connects: Record<string, number>;
  /** HTTP requests forwarded: inside tunnels and absolute-form, e.g. `POST /auth/oidc`. */
  requests: string[];
  /** Proxy-Authorization header values seen. */
  authorizations: string[];
  close(): Promise<void>;
}

export async function startHttpProxy(opts: { requireAuth?: string } = {}): Promise<HttpProxy> {
  const connects: Record<string, number> = {};
  const requests: string[] = [];
  const authorizations: string[] = [];
  const sockets = new Set<Socket>();
  const authorized = (req: IncomingMessage) => {
    const auth = req.headers['proxy-authorization'];
    if (auth) authorizations.push(String(auth));
    return !opts.requireAuth || auth === opts.requireAuth;
  };

  /** Forwards one request to `host:port` over a connection of the proxy's own. */
  const forward = (req: IncomingMessage, res: ServerResponse, host: string, port: number, path: string) => {
    requests.push(`${req.method} ${path}`);
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const up = request({ host, port, method: req.method, path, headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(up);
  };

  // Absolute-form: GET http://host:port/path HTTP/1.1
  const server: Server = createServer((req, res) => {
    if (!authorized(req)) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test"' }).end();
      return;
    }
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('absolute-form URL required');
      return;
    }
    forward(req, res, target.hostname, Number(target.port || 80), `${target.pathname}${target.search}`);
  });

  // Requests inside CONNECT tunnels: parsed by a second HTTP server fed the tunnel's socket.
  const tunnelTarget = new WeakMap<Socket, { host: string; port: number }>();
  const tunnels: Server = createServer((req, res) => {
    const t = tunnelTarget.get(req.socket)!;
    forward(req, res, t.host, t.port, req.url ?? '/');
  });

  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    if (!authorized(req)) {
      client.end(
        'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\n\r\n',
      );
      return;
    }
    const hostPort = req.url ?? '';
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(hostPort);
    if (!m) {
      client.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    connects[hostPort] = (connects[hostPort] ?? 0) + 1;
    tunnelTarget.set(client, { host: m[1]!, port: Number(m[2]) });
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) client.unshift(head);
    tunnels.emit('connection', client);
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connects,
    requests,
    authorizations,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        tunnels.closeAllConnections();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
