import type { ModuleName } from '../shared/config';

export interface GlueTableSpec {
  name: string;
  columns: { name: string; type: string; comment?: string }[];
  serdeParameters?: Record<string, string>;
}

const col = (name: string, type: string, comment?: string) => ({ name, type, comment });

/**
 * Columns per module. The OpenX JSON SerDe matches them case-insensitively to the API's field names, so the
 * NDJSON keeps the API's spelling; fields not listed here stay in the files and can be added later.
 */
export const GLUE_TABLES: Record<ModuleName, GlueTableSpec> = {
  'pci-scans': {
    name: 'pci_scans',
    columns: [
      col('scanid', 'bigint'),
      col('title', 'string'),
      col('status', 'string'),
      col('date', 'string', "as the API formats it, e.g. 'December 18, 2020 at 07:54 AM GMT'"),
      col('scantype', 'string'),
      col('compliance', 'string'),
      col('scanmodule', 'string'),
    ],
  },
  'certview-certificates': {
    name: 'certview_certificates',
    columns: [
      col('id', 'bigint'),
      col('certhash', 'string'),
      col('dn', 'string'),
      col('keysize', 'int'),
      col('signaturealgorithm', 'string'),
      col('validfrom', 'bigint', 'epoch milliseconds'),
      col('validto', 'bigint', 'epoch milliseconds'),
      col('lastfound', 'bigint', 'epoch milliseconds'),
      col('selfsigned', 'boolean'),
      col('extendedvalidation', 'boolean'),
      col('instancecount', 'int'),
      col('issuercategory', 'string'),
      col(
        'subject',
        'struct<organization:string,locality:string,name:string,state:string,country:string,organizationunit:array<string>>',
      ),
      col(
        'issuer',
        'struct<organization:string,organizationunit:array<string>,name:string,country:string,state:string,certhash:string,locality:string>',
      ),
      col(
        'assets',
        'array<struct<assetid:string,name:string,primaryip:string,operatingsystem:string,netbiosname:string>>',
      ),
      col('sources', 'array<string>'),
    ],
  },
  'edr-events': {
    name: 'edr_events',
    columns: [
      col('id', 'string'),
      col('datetime', 'string', "e.g. '2020-08-17T04:15:06.000+0000'"),
      col('type', 'string'),
      col('action', 'string'),
      col('score', 'string'),
      col('scoresource', 'string'),
      col('eventsource', 'string'),
      col('eventprocessedtime', 'string'),
      col('uniqueid', 'string'),
      col(
        'asset',
        'struct<hostname:string,agentid:string,platform:string,fullosname:string,assettype:string,netbiosname:string>',
      ),
      col(
        'process',
        'struct<processname:string,pid:bigint,parentpid:bigint,fullpath:string,username:string,parentprocessname:string,arguments:string,elevated:boolean,integritylevel:string>',
      ),
      col('mutex', 'struct<mutexname:string>'),
      col('file', 'struct<fullpath:string,filename:string,size:bigint>'),
      col('network', 'struct<remoteaddress:string,remoteport:int,localport:int,protocol:string>'),
      col('registry', 'struct<keyname:string,valuename:string>'),
    ],
  },
  'mobile-assets': {
    name: 'mobile_assets',
    columns: [
      col('id', 'string', 'XML values are strings'),
      col('ip', 'string'),
      col('ipv6', 'string'),
      col('asset_friendly_name', 'string'),
      col('os', 'string'),
      col('os_version', 'string'),
      col('asset_status', 'string'),
      col('last_seen', 'string'),
      col('ownership', 'string'),
      col('model_name', 'string'),
      col('manufacturer', 'string'),
      col('username', 'string'),
      col(
        'detection_list',
        'struct<detection:array<struct<qid:string,type:string,severity:string,results:string,status:string,first_found_datetime:string,last_found_datetime:string,times_found:string,last_update_datetime:string>>>',
      ),
    ],
  },
};
