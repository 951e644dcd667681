// Rendered manifests in, objects out: `helm template …` output, `kubectl get -o yaml|json`, several files. Every
// YAML document (JSON is YAML too) that is an object with a kind; a List's items are taken one by one.

import { parseAllDocuments } from 'yaml';
import { ProbeError } from '../errors.js';
import { type KObject, kindOf, list } from './objects.js';

export function readManifests(text: string, source: string): KObject[] {
  const objects: KObject[] = [];
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length > 0) {
      throw new ProbeError(
        'BATON_ERR_PROBE_USAGE',
        `${source} is not YAML or JSON: ${document.errors[0]?.message.split('\n')[0] ?? 'unreadable'}`,
      );
    }
    collect(document.toJS(), objects);
  }
  return objects;
}

function collect(value: unknown, into: KObject[]): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
  const object = value as KObject;
  if (kindOf(object).endsWith('List') && Array.isArray(object.items)) {
    for (const item of list(object.items)) collect(item, into);
  } else if (kindOf(object) !== '') {
    into.push(object);
  }
}
