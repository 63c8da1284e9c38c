import { MODULES, type ModuleName } from '../config';
import { ConfigError } from '../errors';
import { certviewCertificates } from './certview-certificates';
import { edrEvents } from './edr-events';
import { knowledgebase } from './knowledgebase';
import { mobileAssets } from './mobile-assets';
import { pciScans } from './pci-scans';
import { vmdrDetections } from './vmdr-detections';
import type { ModuleDef } from './types';

export const MODULE_DEFS: Record<ModuleName, ModuleDef> = {
  'pci-scans': pciScans,
  'certview-certificates': certviewCertificates,
  'edr-events': edrEvents,
  'mobile-assets': mobileAssets,
  'vmdr-detections': vmdrDetections,
  knowledgebase,
};

export function getModule(name: string): ModuleDef {
  if (!(MODULES as readonly string[]).includes(name)) {
    throw new ConfigError(`unknown module '${name}' (one of ${MODULES.join(', ')})`);
  }
  return MODULE_DEFS[name as ModuleName];
}

export type { ModuleDef } from './types';
