import { Aws, type Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { MODULES, type ModuleName } from '../shared/config';
import { catalogViews, encodePrestoView, prestoView, type ViewDef } from '../shared/schema/views';
import { pascal } from './context';
import { GLUE_TABLES, MANIFESTS_TABLE, type GlueTableSpec } from './glue-tables';

export interface AnalyticsProps {
  bucket: s3.IBucket;
  prefix: string;
  /**
   * The ids of the stack's listed tenants: every table then covers all of them, with `tenant` as a projected
   * partition column read from `<prefix>/<tenant>/…`. Absent for a single-tenant stack (no `tenant` column).
   */
  tenants?: readonly string[];
}

export interface Analytics {
  database: glue.CfnDatabase;
  databaseName: string;
  tables: Record<ModuleName, glue.CfnTable>;
  manifests: glue.CfnTable;
  views: Record<string, glue.CfnTable>;
}

const OPENX_SERDE = 'org.openx.data.jsonserde.JsonSerDe';
const TEXT_INPUT = 'org.apache.hadoop.mapred.TextInputFormat';
const TEXT_OUTPUT = 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat';

const dtProjection = {
  'projection.dt.type': 'date',
  'projection.dt.format': 'yyyy-MM-dd',
  'projection.dt.range': '2020-01-01,NOW',
  'projection.dt.interval': '1',
  'projection.dt.interval.unit': 'DAYS',
};

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
          ...dtProjection,
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
        ...dtProjection,
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
  return { database, databaseName, tables, manifests, views };
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
