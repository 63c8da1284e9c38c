import { Aws, Fn, type Stack } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { MODULES, type ModuleName } from '../shared/config';
import { catalogViews, encodePrestoView, prestoView, type ViewDef } from '../shared/schema/views';
import { pascal } from './context';
import { GLUE_TABLES, MANIFESTS_TABLE, type GlueTableSpec } from './glue-tables';
import { ATHENA_RESULTS, s3KeyStatement } from './storage';

export interface AnalyticsProps {
  bucket: s3.IBucket;
  prefix: string;
  /**
   * The ids of the stack's listed tenants: every table then covers all of them, with `tenant` as a projected
   * partition column read from `<prefix>/<tenant>/…`. Absent for a single-tenant stack (no `tenant` column).
   */
  tenants?: readonly string[];
  /**
   * The first `dt` the tables project (YYYY-MM-DD, or the deploy-time value of infra/partition-start.ts): queries
   * without a `dt` filter enumerate the dates from it to today, so it starts where the data does.
   */
  partitionStart: string;
  /** The bucket's customer-managed key, if any: readers decrypt with it and Athena encrypts results with it. */
  dataKeyArn?: string;
}

export interface Analytics {
  database: glue.CfnDatabase;
  databaseName: string;
  tables: Record<ModuleName, glue.CfnTable>;
  manifests: glue.CfnTable;
  views: Record<string, glue.CfnTable>;
  /** Query results of this workgroup go to `<prefix>/_athena-results/` in the bucket, encrypted. */
  workGroup: athena.CfnWorkGroup;
  /** Everything a reader needs to query the tables and views with Athena (attach it to a role, user or group). */
  readerPolicy: iam.ManagedPolicy;
}

const OPENX_SERDE = 'org.openx.data.jsonserde.JsonSerDe';
const TEXT_INPUT = 'org.apache.hadoop.mapred.TextInputFormat';
const TEXT_OUTPUT = 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat';

/** `dt` projected daily from `start` to today: the dates a query without a `dt` filter enumerates. */
function dtProjection(start: string) {
  return {
    'projection.dt.type': 'date',
    'projection.dt.format': 'yyyy-MM-dd',
    'projection.dt.range': Fn.join(',', [start, 'NOW']),
    'projection.dt.interval': '1',
    'projection.dt.interval.unit': 'DAYS',
  };
}

function storage(spec: GlueTableSpec, location: string): glue.CfnTable.StorageDescriptorProperty {
  return {
    location,
    columns: spec.columns,
    inputFormat: TEXT_INPUT,
    outputFormat: TEXT_OUTPUT,
    serdeInfo: {
      serializationLibrary: OPENX_SERDE,
      parameters: {
        'ignore.malformed.json': 'false',
        // Keys keep the API's case in the files; Athena matches them to the columns case-insensitively.
        'case.insensitive': 'true',
        ...spec.serdeParameters,
      },
    },
  };
}

/**
 * The Glue catalogue: one table per module (columns generated from the schemas), the manifests table, and the
 * complete-runs views. Resources are created in the stack's own scope so their logical ids (GlueDatabase,
 * Table<Module>) stay those of earlier releases and an update does not replace them.
 */
export function addAnalytics(stack: Stack, props: AnalyticsProps): Analytics {
  const { bucket, prefix } = props;
  const dt = dtProjection(props.partitionStart);
  const byTenant = props.tenants ? tenantPartition(props.tenants) : undefined;
  const root = `s3://${bucket.bucketName}/${prefix}/`;
  const databaseName = `qualys_export_${stack.node.addr.slice(0, 8)}`;
  const database = new glue.CfnDatabase(stack, 'GlueDatabase', {
    catalogId: Aws.ACCOUNT_ID,
    databaseInput: {
      name: databaseName,
      description:
        'qualys-export NDJSON tables, the manifests of complete runs, and views over complete runs',
    },
  });

  const tables = {} as Record<ModuleName, glue.CfnTable>;
  for (const module of MODULES) {
    const spec = GLUE_TABLES[module];
    const location = byTenant ? root : `${root}${module}/`;
    const template = byTenant ? `${root}\${tenant}/${module}/dt=\${dt}/` : `${location}dt=\${dt}/`;
    const table = new glue.CfnTable(stack, `Table${pascal(module)}`, {
      catalogId: Aws.ACCOUNT_ID,
      databaseName: database.ref,
      tableInput: {
        name: spec.name,
        description:
          `qualys-export ${module}: every record of every run, complete or not, partitioned by the run's UTC ` +
          `date. Query the ${spec.name}_complete / _latest views to see complete runs only.`,
        tableType: 'EXTERNAL_TABLE',
        partitionKeys: [...(byTenant ? [byTenant.key] : []), { name: 'dt', type: 'string' }],
        parameters: {
          classification: 'json',
          compressionType: 'gzip',
          'qexport.schema': spec.schemaId,
          'projection.enabled': 'true',
          ...byTenant?.projection,
          ...dt,
          'storage.location.template': template,
        },
        storageDescriptor: storage(spec, location),
      },
    });
    table.addResourceDependency(database);
    tables[module] = table;
  }

  const manifestsLocation = byTenant ? root : `${root}manifests/`;
  const manifestsTemplate = byTenant
    ? `${root}\${tenant}/manifests/module=\${module}/dt=\${dt}/`
    : `${manifestsLocation}module=\${module}/dt=\${dt}/`;
  const manifests = new glue.CfnTable(stack, 'TableManifests', {
    catalogId: Aws.ACCOUNT_ID,
    databaseName: database.ref,
    tableInput: {
      name: MANIFESTS_TABLE.name,
      description:
        'qualys-export run manifests: one row per complete run (a run without a manifest is not complete)',
      tableType: 'EXTERNAL_TABLE',
      partitionKeys: [
        ...(byTenant ? [byTenant.key] : []),
        { name: 'module', type: 'string' },
        { name: 'dt', type: 'string' },
      ],
      parameters: {
        classification: 'json',
        'qexport.schema': MANIFESTS_TABLE.schemaId,
        'projection.enabled': 'true',
        ...byTenant?.projection,
        'projection.module.type': 'enum',
        'projection.module.values': MODULES.join(','),
        ...dt,
        'storage.location.template': manifestsTemplate,
      },
      storageDescriptor: storage(MANIFESTS_TABLE, manifestsLocation),
    },
  });
  manifests.addResourceDependency(database);

  const views: Record<string, glue.CfnTable> = {};
  for (const view of catalogViews({ tenants: Boolean(byTenant) })) {
    const t = viewTable(stack, database, databaseName, view);
    t.addResourceDependency(tables[view.module]);
    t.addResourceDependency(manifests);
    // A view over views (the detections joined to the KnowledgeBase) after the views it reads.
    if (view.select === 'joined') {
      for (const name of ['vmdr_detections_latest', 'knowledgebase_latest'])
        t.addResourceDependency(views[name]!);
    }
    views[view.name] = t;
  }

  const workGroupName = `${stack.stackName}-qualys-export`;
  const workGroup = new athena.CfnWorkGroup(stack, 'AthenaWorkGroup', {
    name: workGroupName,
    description: `qualys-export: queries of ${databaseName}; results in ${prefix}/${ATHENA_RESULTS}/ of the export bucket`,
    state: 'ENABLED',
    // Deleting the stack deletes the workgroup with its query history.
    recursiveDeleteOption: true,
    workGroupConfiguration: {
      // Queries in this workgroup always write their results there, encrypted, whatever the client asks.
      enforceWorkGroupConfiguration: true,
      publishCloudWatchMetricsEnabled: true,
      engineVersion: { selectedEngineVersion: 'AUTO' },
      resultConfiguration: {
        outputLocation: `s3://${bucket.bucketName}/${prefix}/${ATHENA_RESULTS}/`,
        encryptionConfiguration: props.dataKeyArn
          ? { encryptionOption: 'SSE_KMS', kmsKey: props.dataKeyArn }
          : { encryptionOption: 'SSE_S3' },
      },
    },
  });
  const readerPolicy = new iam.ManagedPolicy(stack, 'ReaderPolicy', {
    description: `qualys-export: query ${databaseName} (tables, views) with Athena workgroup ${workGroupName}`,
    statements: readerStatements(stack, {
      bucket,
      prefix,
      dataKeyArn: props.dataKeyArn,
      databaseName,
      tableNames: [
        ...Object.values(GLUE_TABLES).map((t) => t.name),
        MANIFESTS_TABLE.name,
        ...Object.keys(views),
      ],
      workGroupName,
    }),
  });
  return { database, databaseName, tables, manifests, views, workGroup, readerPolicy };
}

/**
 * What reading the exports takes, and nothing more: the objects under the prefix and listing only there (Athena
 * lists each partition it reads), the bucket's key through S3 (to decrypt, and to encrypt query results), the
 * database and exactly its tables and views in the Glue catalogue, and queries in the stack's workgroup, whose
 * results it writes under `<prefix>/_athena-results/`.
 */
function readerStatements(
  stack: Stack,
  r: {
    bucket: s3.IBucket;
    prefix: string;
    dataKeyArn?: string;
    databaseName: string;
    tableNames: string[];
    workGroupName: string;
  },
): iam.PolicyStatement[] {
  const glueArn = (resource: string, resourceName?: string) =>
    stack.formatArn({ service: 'glue', resource, resourceName });
  const athenaArn = (resource: string, resourceName: string) =>
    stack.formatArn({ service: 'athena', resource, resourceName });
  return [
    new iam.PolicyStatement({
      sid: 'ReadExports',
      actions: ['s3:GetObject'],
      resources: [r.bucket.arnForObjects(`${r.prefix}/*`)],
    }),
    new iam.PolicyStatement({
      sid: 'ListExports',
      actions: ['s3:ListBucket'],
      resources: [r.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${r.prefix}/*`] } },
    }),
    new iam.PolicyStatement({
      sid: 'QueryResultsBucket',
      actions: ['s3:GetBucketLocation', 's3:ListBucketMultipartUploads'],
      resources: [r.bucket.bucketArn],
    }),
    new iam.PolicyStatement({
      sid: 'WriteQueryResults',
      actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      resources: [r.bucket.arnForObjects(`${r.prefix}/${ATHENA_RESULTS}/*`)],
    }),
    ...(r.dataKeyArn ? [s3KeyStatement(r.dataKeyArn)] : []),
    new iam.PolicyStatement({
      sid: 'ReadCatalogue',
      actions: [
        'glue:GetDatabase',
        'glue:GetTable',
        'glue:GetTables',
        'glue:GetPartition',
        'glue:GetPartitions',
        'glue:BatchGetPartition',
      ],
      resources: [
        glueArn('catalog'),
        glueArn('database', r.databaseName),
        ...r.tableNames.map((t) => glueArn('table', `${r.databaseName}/${t}`)),
      ],
    }),
    new iam.PolicyStatement({
      sid: 'QueryInWorkGroup',
      actions: [
        'athena:StartQueryExecution',
        'athena:StopQueryExecution',
        'athena:GetQueryExecution',
        'athena:GetQueryResults',
        'athena:GetQueryResultsStream',
        'athena:BatchGetQueryExecution',
        'athena:ListQueryExecutions',
        'athena:GetWorkGroup',
      ],
      resources: [athenaArn('workgroup', r.workGroupName)],
    }),
    new iam.PolicyStatement({
      sid: 'BrowseCatalogue',
      actions: [
        'athena:GetDataCatalog',
        'athena:ListDatabases',
        'athena:GetDatabase',
        'athena:ListTableMetadata',
        'athena:GetTableMetadata',
      ],
      resources: [athenaArn('datacatalog', 'AwsDataCatalog')],
    }),
  ];
}

/**
 * An Athena view is a Glue table of type VIRTUAL_VIEW whose ViewOriginalText is `/* Presto View: <base64 of
 * {originalSql, catalog, schema, columns}> *\/`, with table parameter presto_view=true (the format Athena
 * itself writes for CREATE VIEW and Trino's Hive connector decodes).
 */
function viewTable(stack: Stack, database: glue.CfnDatabase, databaseName: string, view: ViewDef) {
  const t = new glue.CfnTable(stack, `View${pascal(view.name)}`, {
    catalogId: Aws.ACCOUNT_ID,
    databaseName: database.ref,
    tableInput: {
      name: view.name,
      description: view.description,
      tableType: 'VIRTUAL_VIEW',
      parameters: { presto_view: 'true', comment: 'Presto View' },
      viewOriginalText: encodePrestoView(prestoView(view, databaseName)),
      viewExpandedText: '/* Presto View */',
      partitionKeys: [],
      storageDescriptor: {
        columns: view.columns.map((c) => ({ name: c.name.toLowerCase(), type: c.type.hive })),
        serdeInfo: {},
      },
    },
  });
  t.addResourceDependency(database);
  return t;
}

/**
 * Several tenants, one table per module: `tenant` is a partition column projected from the tenant ids (an
 * enum, so nothing to crawl or repair; a filter on it reads only that tenant's prefix).
 */
function tenantPartition(ids: readonly string[]) {
  return {
    key: { name: 'tenant', type: 'string' },
    projection: { 'projection.tenant.type': 'enum', 'projection.tenant.values': ids.join(',') },
  };
}
