import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/**
 * moto_server (Python, `pip install 'moto[server]'`): AWS's own request/response formats for S3 and Secrets
 * Manager, written by others, so the suites that run on our stand-ins can also run on it. It is started by the
 * test on a loopback port of its choosing and stopped after. A machine without it skips those suites.
 */
let available: boolean | undefined;
export function motoAvailable(): boolean {
  if (available === undefined) {
    const probe = spawnSync('python3', ['-c', 'import moto.server, flask'], {
      stdio: 'ignore',
      timeout: 20_000,
    });
    available = probe.status === 0;
    if (!available) {
      console.info(
        "moto_server is not installed: skipping the moto_server suites (pip install 'moto[server]')",
      );
    }
  }
  return available;
}

export interface MotoServer {
  endpoint: string;
  /**
   * An S3 client with the SDK's default checksums (moto stores them right, unlike s3rver). With IAM enforced,
   * moto 5.2 rejects the signature of a ListObjectsV2 whose prefix holds a '/' (SignatureDoesNotMatch).
   */
  s3(credentials?: { accessKeyId: string; secretAccessKey: string }): S3Client;
  secretsManager(): SecretsManagerClient;
  /** A new bucket for one suite. */
  createBucket(name: string): Promise<void>;
  getObject(bucket: string, key: string): Promise<Buffer>;
  close(): Promise<void>;
}

const TEST_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

/**
 * Starts `python3 -m moto.server` on 127.0.0.1 (port chosen by the OS, read from its banner). `env` reaches the
 * server: `INITIAL_NO_AUTH_ACTION_COUNT=n` makes it enforce IAM policies after its first n requests.
 */
export async function startMotoServer(env: Record<string, string> = {}): Promise<MotoServer> {
  const proc: ChildProcess = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', '0'], {
    env: { ...process.env, ...env, PYTHONUNBUFFERED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const endpoint = await new Promise<string>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`moto_server did not start within 30 s: ${seen.slice(-500)}`));
    }, 30_000);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString('utf8');
      const m = /Running on (http:\/\/127\.0\.0\.1:\d+)/.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`moto_server exited (${code}) before listening: ${seen.slice(-500)}`));
    });
  });
  // Its request log goes nowhere (the pipes must still be read, or the server blocks on a full pipe).
  proc.stdout!.resume();
  proc.stderr!.resume();
  const clients: { destroy(): void }[] = [];
  const s3 = (credentials = TEST_CREDENTIALS) => {
    const c = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
    clients.push(c);
    return c;
  };
  const admin = s3();
  return {
    endpoint,
    s3,
    secretsManager() {
      const c = new SecretsManagerClient({ endpoint, region: 'us-east-1', credentials: TEST_CREDENTIALS });
      clients.push(c);
      return c;
    },
    async createBucket(name) {
      await admin.send(new CreateBucketCommand({ Bucket: name }));
    },
    async getObject(bucket, key) {
      const res = await admin.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await res.Body!.transformToByteArray());
    },
    async close() {
      for (const c of clients) c.destroy();
      if (proc.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
        setTimeout(() => proc.kill('SIGKILL'), 5000).unref();
      });
    },
  };
}
