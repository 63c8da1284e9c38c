// The S3 stand-in (s3rver, test/support/s3-server.ts) in its own process for the benchmarks, so its CPU and
// memory are not counted as the exporter's. Prints {"endpoint", "bucket"} on stdout, then runs until killed.
import { startS3Server } from '../test/support/s3-server';

const s3 = await startS3Server('qexport-bench');
process.stdout.write(`${JSON.stringify({ endpoint: s3.endpoint, bucket: s3.bucket })}\n`);
process.on('SIGTERM', () => void s3.close().then(() => process.exit(0)));
