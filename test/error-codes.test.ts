// Every BATON_ERR_* code a package's source uses is in that package's one code table (and so in its README's),
// and handoff errors are recognised across copies of the package.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ErrorCodes as DrainErrorCodes } from '../packages/drain-core/src/index.js';
import { HandoffError, HandoffErrorCodes, isHandoffError } from '../packages/handoff/src/index.js';
import { ErrorCodes as KubernetesErrorCodes } from '../packages/kubernetes/src/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));

function codesUsedIn(packageName: string): Set<string> {
  const dir = join(root, 'packages', packageName, 'src');
  const codes = new Set<string>();
  for (const file of readdirSync(dir, { recursive: true }) as string[]) {
    if (!file.endsWith('.ts')) continue;
    // A code is BATON_ERR_ plus at least one word; `BATON_ERR_TOKEN_*` in a comment names a family, not a code.
    for (const match of readFileSync(join(dir, file), 'utf8').matchAll(/BATON_ERR_[A-Z_]*[A-Z]\b(?!_?\*)/g)) {
      codes.add(match[0]);
    }
  }
  return codes;
}

describe('error code tables', () => {
  it.each([
    ['drain-core', DrainErrorCodes],
    ['handoff', HandoffErrorCodes],
    ['kubernetes', KubernetesErrorCodes],
  ] as const)('@baton/%s uses only codes from its table, and documents each in its README', (name, table) => {
    const tableCodes = new Set<string>(Object.values(table));
    const used = codesUsedIn(name);
    expect(used.size).toBeGreaterThan(0);
    expect([...used].filter((code) => !tableCodes.has(code))).toEqual([]);
    const readme = readFileSync(join(root, 'packages', name, 'README.md'), 'utf8');
    expect([...tableCodes].filter((code) => !readme.includes(code))).toEqual([]);
  });

  it('recognises a HandoffError from another copy of the package by its marker, not instanceof', () => {
    const ours = new HandoffError(HandoffErrorCodes.TOKEN_FORGED, 'forged');
    // What a second installed copy's instance looks like to this copy: another class, the same marker.
    class OtherCopyError extends Error {}
    const theirs = Object.defineProperty(new OtherCopyError('forged'), Symbol.for('baton.handoff.error'), {
      value: true,
    });
    expect(isHandoffError(ours)).toBe(true);
    expect(isHandoffError(theirs)).toBe(true);
    expect(isHandoffError(new Error('plain'))).toBe(false);
    expect(isHandoffError({ code: 'BATON_ERR_TOKEN_FORGED' })).toBe(false);
    expect(isHandoffError(null)).toBe(false);
  });
});
