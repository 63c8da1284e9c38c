import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/**
 * A Secrets Manager-compatible endpoint on 127.0.0.1 speaking the AWS JSON 1.1 protocol
 * (`X-Amz-Target: secretsmanager.<Op>`), enough for the real SDK client: CreateSecret, GetSecretValue (by name
 * or ARN, VersionId or VersionStage), PutSecretValue (idempotent on ClientRequestToken; same token with a
 * different value → ResourceExistsException), DescribeSecret (VersionIdsToStages), UpdateSecretVersionStage,
 * ListSecretVersionIds. Errors are HTTP 400 `{__type, message}` so the SDK raises its modelled exceptions.
 */
interface Version {
  id: string;
  value: string;
  stages: Set<string>;
  created: number;
}
interface Secret {
  name: string;
  arn: string;
  versions: Map<string, Version>;
  created: number;
}

class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

export interface SecretsManagerServer {
  endpoint: string;
  client: SecretsManagerClient;
  /** Every stored value of every secret (for hygiene scans). */
  dump(): { name: string; versionId: string; stages: string[]; value: string }[];
  /** Requests received, by operation. */
  calls: Record<string, number>;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startSecretsManagerServer(): Promise<SecretsManagerServer> {
  const secrets = new Map<string, Secret>();
  const calls: Record<string, number> = {};
  const region = 'us-east-1';

  const find = (id: unknown): Secret => {
    const s =
      typeof id === 'string'
        ? (secrets.get(id) ?? [...secrets.values()].find((x) => x.arn === id))
        : undefined;
    if (!s)
      throw new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return s;
  };
  const byStage = (s: Secret, stage: string) => [...s.versions.values()].find((v) => v.stages.has(stage));
  const addVersion = (s: Secret, value: string, token: string | undefined, stages: string[]): Version => {
    const id = token ?? randomUUID();
    const existing = s.versions.get(id);
    if (existing) {
      if (existing.value !== value) {
        throw new AwsError(
          'ResourceExistsException',
          'You can’t modify an existing version, you can only create a new version.',
        );
      }
      return existing;
    }
    for (const stage of stages) {
      const holder = byStage(s, stage);
      if (stage === 'AWSCURRENT' && holder) {
        for (const v of s.versions.values()) v.stages.delete('AWSPREVIOUS');
        holder.stages.add('AWSPREVIOUS');
      }
      holder?.stages.delete(stage);
    }
    const v: Version = { id, value, stages: new Set(stages), created: Date.now() };
    s.versions.set(id, v);
    return v;
  };

  const ops: Record<string, (b: Record<string, unknown>) => unknown> = {
    CreateSecret(b) {
      const name = String(b.Name ?? '');
      if (!name) throw new AwsError('InvalidParameterException', 'Name is required');
      if (secrets.has(name))
        throw new AwsError('ResourceExistsException', `The secret ${name} already exists.`);
      const s: Secret = {
        name,
        arn: `arn:aws:secretsmanager:${region}:000000000000:secret:${name}-${randomUUID().slice(0, 6)}`,
        versions: new Map(),
        created: Date.now(),
      };
      secrets.set(name, s);
      let versionId: string | undefined;
      if (typeof b.SecretString === 'string') {
        versionId = addVersion(s, b.SecretString, b.ClientRequestToken as string | undefined, [
          'AWSCURRENT',
        ]).id;
      }
      return { ARN: s.arn, Name: s.name, VersionId: versionId };
    },
    GetSecretValue(b) {
      const s = find(b.SecretId);
      let v: Version | undefined;
      if (typeof b.VersionId === 'string') v = s.versions.get(b.VersionId);
      else v = byStage(s, typeof b.VersionStage === 'string' ? b.VersionStage : 'AWSCURRENT');
      if (!v) {
        throw new AwsError(
          'ResourceNotFoundException',
          `Secrets Manager can't find the specified secret value for ${b.VersionId ? 'VersionId' : 'staging label'}`,
        );
      }
      return {
        ARN: s.arn,
        Name: s.name,
        VersionId: v.id,
        SecretString: v.value,
        VersionStages: [...v.stages],
        CreatedDate: v.created / 1000,
      };
    },
    PutSecretValue(b) {
      const s = find(b.SecretId);
      if (typeof b.SecretString !== 'string')
        throw new AwsError('InvalidParameterException', 'SecretString is required');
      const token = b.ClientRequestToken as string | undefined;
      if (token !== undefined && (token.length < 32 || token.length > 64)) {
        throw new AwsError('InvalidParameterException', 'ClientRequestToken must be 32-64 characters');
      }
      const stages =
        Array.isArray(b.VersionStages) && b.VersionStages.length
          ? (b.VersionStages as string[])
          : ['AWSCURRENT'];
      const v = addVersion(s, b.SecretString, token, stages);
      return { ARN: s.arn, Name: s.name, VersionId: v.id, VersionStages: [...v.stages] };
    },
    DescribeSecret(b) {
      const s = find(b.SecretId);
      return {
        ARN: s.arn,
        Name: s.name,
        CreatedDate: s.created / 1000,
        VersionIdsToStages: Object.fromEntries(
          [...s.versions.values()].filter((v) => v.stages.size).map((v) => [v.id, [...v.stages]]),
        ),
      };
    },
    UpdateSecretVersionStage(b) {
      const s = find(b.SecretId);
      const stage = String(b.VersionStage ?? '');
      const move = b.MoveToVersionId as string | undefined;
      const remove = b.RemoveFromVersionId as string | undefined;
      const holder = byStage(s, stage);
      if (move && !s.versions.has(move))
        throw new AwsError('ResourceNotFoundException', 'MoveToVersionId not found');
      if (holder && move && holder.id !== move && remove !== holder.id) {
        throw new AwsError(
          'InvalidParameterException',
          `The staging label ${stage} is currently attached to version ${holder.id}; specify RemoveFromVersionId`,
        );
      }
      if (remove) s.versions.get(remove)?.stages.delete(stage);
      if (move) {
        if (stage === 'AWSCURRENT' && holder && holder.id !== move) {
          for (const v of s.versions.values()) v.stages.delete('AWSPREVIOUS');
          holder.stages.add('AWSPREVIOUS');
        }
        s.versions.get(move)!.stages.add(stage);
      }
      return { ARN: s.arn, Name: s.name };
    },
    ListSecretVersionIds(b) {
      const s = find(b.SecretId);
      return {
        ARN: s.arn,
        Name: s.name,
        Versions: [...s.versions.values()].map((v) => ({
          VersionId: v.id,
          VersionStages: [...v.stages],
          CreatedDate: v.created / 1000,
        })),
      };
    },
  };

  const server = createServer(async (req, res) => {
    const target = String(req.headers['x-amz-target'] ?? '');
    const op = target.replace(/^secretsmanager\./, '');
    calls[op] = (calls[op] ?? 0) + 1;
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(body));
    };
    try {
      const handler = ops[op];
      if (req.method !== 'POST' || !handler)
        throw new AwsError('InvalidAction', `Unsupported operation ${target}`);
      const text = await readBody(req);
      send(200, handler(text ? (JSON.parse(text) as Record<string, unknown>) : {}));
    } catch (err) {
      if (err instanceof AwsError) send(400, { __type: err.type, message: err.message });
      else send(500, { __type: 'InternalServiceError', message: (err as Error).message });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new SecretsManagerClient({
    endpoint,
    region,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  return {
    endpoint,
    client,
    calls,
    dump: () =>
      [...secrets.values()].flatMap((s) =>
        [...s.versions.values()].map((v) => ({
          name: s.name,
          versionId: v.id,
          stages: [...v.stages],
          value: v.value,
        })),
      ),
    close: () =>
      new Promise<void>((resolve) => {
        client.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
