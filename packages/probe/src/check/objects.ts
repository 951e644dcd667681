// Kubernetes objects as the check reads them: plain JSON, from rendered manifests or from the API. Nothing is
// trusted to have any field, so every read goes through these accessors and a missing field is `undefined`.

export type KObject = Readonly<Record<string, unknown>>;

/** The value at `path` (keys, or indices for arrays), or undefined. */
export function at(value: unknown, ...path: (string | number)[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function num(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

export function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

export const kindOf = (object: KObject): string => str(object.kind) ?? '';
export const nameOf = (object: KObject): string => str(at(object, 'metadata', 'name')) ?? '';
export const namespaceOf = (object: KObject): string | undefined => str(at(object, 'metadata', 'namespace'));
export const labelsOf = (object: KObject, ...path: string[]): Record<string, string> =>
  record(at(object, ...path, 'metadata', 'labels')) as Record<string, string>;
export const annotationsOf = (object: KObject): Record<string, string> =>
  record(at(object, 'metadata', 'annotations')) as Record<string, string>;

/** "Kind/name", how the report names an object. */
export const refOf = (object: KObject): string => `${kindOf(object)}/${nameOf(object)}`;

/** True when every label of `selector` is on `labels` (an equality selector; an empty one selects nothing). */
export function selects(selector: Record<string, unknown>, labels: Record<string, string>): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([key, value]) => labels[key] === value);
}

/** Seconds of a Kubernetes IntOrString percentage or count ("25%", 1): the fraction for %, else undefined. */
export function percent(value: unknown): number | undefined {
  if (typeof value === 'string' && value.endsWith('%')) return num(value.slice(0, -1));
  return undefined;
}
