/**
 * How Lambda starts Node for our functions, in one place: the stack deploys it, the bench reproduces it and the
 * tests check the wrapper against it.
 */

/** Memory of each exporter function (MB). Lambda gives a function CPU in proportion (1,769 MB = 1 vCPU). */
export const EXPORTER_MEMORY_MB = 1024;

/**
 * V8 semi-space size (MB) the exporters run with, set by `functions/lambda-heap.sh` through
 * AWS_LAMBDA_EXEC_WRAPPER: Node's own default. The runtime's would be 51 MB at 1,024 MB (see lambdaNodeArgs),
 * which let the young generation grow to 128 MB: peaks of 258–261 MB for 1M EDR events against 159–171 MB at
 * 16 (EDR −10 % CPU, Mobile +11 %: docs/benchmarks.md, "Peak RSS").
 */
export const EXPORTER_SEMI_SPACE_MB = 16;

/** The wrapper's file name in each exporter's bundle (/var/task/<name>). */
export const HEAP_WRAPPER = 'lambda-heap.sh';

/**
 * The node options the Lambda Node.js runtimes start with for a function of `memoryMb` (their
 * /var/runtime/bootstrap: new space = memory / 10, semi-space = half of it, old space = the rest, in whole MB
 * by shell arithmetic; --expose-gc; --max-http-header-size 81920). Seen in the nodejs14.x and nodejs18.x base
 * images; AWS documents no heap settings, so this is [code] evidence, assumed unchanged for nodejs22.x.
 */
export function lambdaNodeOptions(memoryMb: number): string[] {
  const newSpace = Math.floor(memoryMb / 10);
  return [
    '--expose-gc',
    '--max-http-header-size',
    '81920',
    `--max-semi-space-size=${Math.floor(newSpace / 2)}`,
    `--max-old-space-size=${memoryMb - newSpace}`,
  ];
}
