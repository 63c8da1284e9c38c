export { createDirStore } from './dir-store';
export { createS3Store, type S3StoreOptions } from './s3-store';
export { openPart, toNdjsonLine, type PartWriter } from './part-writer';
export type { ObjectStore, PartInfo } from './types';
