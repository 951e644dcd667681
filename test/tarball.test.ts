// The packages as a user gets them: pnpm packs the publishable packages, npm installs the tarballs into a
// fresh project outside the workspace (a temporary folder), and there the packages are imported (ESM),
// required (CJS), type-checked under strict with nodenext and bundler resolution, run through a drain with
// real sockets, and the client bundled for the browser. Also: `pnpm publish -r --dry-run` lists LICENSE and
// README in every package. The install needs the npm registry (as `pnpm install` does).

import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const fixture = join(root, 'test/fixtures/tarball-project');
const PACKED = ['drain-core', 'handoff', 'client', 'fastify-plugin'] as const;
const PUBLISHED = [...PACKED, 'kubernetes'] as const;

function workspaceVersion(packageDir: string, dependency: string): string {
  const manifest = JSON.parse(readFileSync(join(root, packageDir, 'package.json'), 'utf8'));
  const version = manifest.devDependencies?.[dependency] ?? manifest.dependencies?.[dependency];
  if (!version) throw new Error(`${packageDir} pins no version of ${dependency}`);
  return version;
}

let project: string;
let packDir: string;

beforeAll(async () => {
  packDir = mkdtempSync(join(tmpdir(), 'baton-pack-'));
  project = mkdtempSync(join(tmpdir(), 'baton-tarballs-'));
  const tarballs: Record<string, string> = {};
  for (const name of PACKED) {
    const { stdout } = await run('pnpm', ['pack', '--pack-destination', packDir], {
      cwd: join(root, 'packages', name),
    });
    const file = stdout.trim().split('\n').at(-1) as string;
    tarballs[`@baton/${name}`] = `file:${file}`;
  }
  cpSync(fixture, project, { recursive: true });
  // The same versions the workspace tests with, so a failure here is about packaging, not a new release.
  const dependencies = {
    ...tarballs,
    ws: workspaceVersion('.', 'ws'),
    fastify: workspaceVersion('packages/fastify-plugin', 'fastify'),
    '@fastify/websocket': workspaceVersion('packages/fastify-plugin', '@fastify/websocket'),
    'prom-client': workspaceVersion('.', 'prom-client'),
    '@types/ws': workspaceVersion('.', '@types/ws'),
    '@types/node': workspaceVersion('.', '@types/node'),
  };
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'baton-tarball-user', private: true, type: 'module', dependencies }, null, 2),
  );
  await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: project, timeout: 240_000 });
}, 300_000);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
  if (packDir) rmSync(packDir, { recursive: true, force: true });
});

describe('the packed packages, installed with npm outside the workspace', () => {
  it('import (ESM) with exactly the documented exports', async () => {
    const { stdout } = await run(process.execPath, ['import.mjs'], { cwd: project });
    const exports = JSON.parse(stdout);
    expect(exports['drain-core']).toContain('DrainController');
    expect(exports['drain-core']).toContain('resolveDrainBudget');
    // Internals stay internal: they would become public API.
    for (const internal of ['AdminServer', 'TimerQueue', 'buildClosingPlan', 'shuffle', 'spreadOffsets']) {
      expect(exports['drain-core']).not.toContain(internal);
    }
    expect(exports.handoff).toContain('Handoff');
    expect(exports.client).toContain('BatonSocket');
    expect(exports['fastify-plugin']).toEqual(
      expect.arrayContaining(['default', 'batonFastifyPlugin', 'batonPreClose']),
    );
  });

  it('require (CJS)', async () => {
    const { stdout } = await run(process.execPath, ['require.cjs'], { cwd: project });
    expect(JSON.parse(stdout)).toEqual({
      DrainController: 'function',
      resolveDrainBudget: 'function',
      Handoff: 'function',
      BatonSocket: 'function',
      plugin: 'function',
      batonPreClose: 'function',
    });
  });

  it.each(['nodenext', 'bundler'])('type-check a gateway and a client under strict, %s resolution', async (mode) => {
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '-p', `tsconfig.${mode}.json`], { cwd: project }).catch(
      (error: { stdout: string }) => ({ stdout: error.stdout, failed: true }),
    );
    expect(result.stdout).toBe('');
    expect('failed' in result).toBe(false);
  });

  it('runs a drain: plain clients get 1012, a Baton client moves to the other gateway with its session', async () => {
    const { stdout } = await run(process.execPath, ['drain-run.mjs'], { cwd: project, timeout: 30_000 });
    const result = JSON.parse(stdout.trim().split('\n').at(-1) as string);
    expect(result.plainCloseCodes).toEqual([1012, 1012, 1012]);
    expect(result.migratedResumed).toBe(true);
    expect(result.currentUrlIsB).toBe(true);
    expect(result.messages).toEqual([
      { server: 'a', resumedFrom: null },
      { server: 'b', resumedFrom: 'a' },
    ]);
    // The moved client's old connection is closed by the server at its hint deadline (a tenth of the 600 ms
    // window) before the client's own linger (1 s) lets it go: 3 plain + 1 hinted closes.
    expect(result.report).toEqual({ closed: 4, hinted: 1, connectionsAtClosing: 4 });
  });

  it('bundles the client for the browser with no node: import, and exports the prebuilt bundle as ./min', async () => {
    const result = await build({
      entryPoints: [join(project, 'browser-entry.js')],
      absWorkingDir: project,
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((input) => input.includes('node_modules/@baton/client/dist/'))).toBe(true);
    expect(inputs.filter((input) => input.startsWith('node:'))).toEqual([]);
    const { stdout } = await run(
      process.execPath,
      ['--input-type=module', '-e', "import('@baton/client/min').then((m) => console.log(typeof m.BatonSocket))"],
      { cwd: project },
    );
    expect(stdout.trim()).toBe('function');
  });
});

describe('pnpm publish -r --dry-run', () => {
  it('would publish every package with its LICENSE and README', async () => {
    const { stdout, stderr } = await run('pnpm', ['publish', '-r', '--dry-run', '--no-git-checks'], {
      cwd: root,
      timeout: 120_000,
    });
    const output = `${stdout}\n${stderr}`;
    for (const name of PUBLISHED) {
      const start = output.indexOf(`📦  @baton/${name}@`);
      expect(start, `@baton/${name} in the dry run`).toBeGreaterThanOrEqual(0);
      const listing = output.slice(start, output.indexOf('Tarball Details', start));
      expect(listing).toMatch(/ LICENSE\n/);
      expect(listing).toMatch(/ README\.md\n/);
      expect(listing).toMatch(/ dist\/index\.js\n/);
      // A source map ships with the source it points to.
      if (listing.includes('dist/index.js.map')) expect(listing).toMatch(/ src\/index\.ts\n/);
    }
    expect(output).not.toContain('@baton/lab@');
  });
});
