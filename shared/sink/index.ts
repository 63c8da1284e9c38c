export { createDirStore } from './dir-store';
export { createS3Store, type S3StoreOptions } from './s3-store';
export {
  openPart,
  RUN_FIELD,
  runStamp,
  toNdjsonLine,
  type PartOptions,
  type PartWriter,
} from './part-writer';
export type { ObjectStore, PartInfo, StoredJson, WriteCondition } from './types';
