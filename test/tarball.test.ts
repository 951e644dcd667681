// The packages as a user gets them: pnpm packs the publishable packages, npm installs the tarballs into a
// fresh project outside the workspace (a temporary folder), and there the packages are imported (ESM),
// required (CJS), type-checked under strict with nodenext and bundler resolution, run through a drain with
// real sockets, and the client bundled for the browser. Also: `pnpm publish -r --dry-run` lists LICENSE and
// README in every package. The install needs the npm registry (as `pnpm install` does).

import { execFile, fork } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const fixture = join(root, 'test/fixtures/tarball-project');
const PACKED = ['drain-core', 'handoff', 'client', 'fastify-plugin', 'relay', 'probe', 'kubernetes'] as const;
const PUBLISHED = PACKED;

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
    // The lists each README's API / Exports section documents; anything more would become public API.
    expect(exports).toEqual({
      'drain-core': [
        'BATON_PROTOCOL',
        'BUDGET_DEFAULTS',
        'BatonError',
        'CLOSE_CODE_SERVICE_RESTART',
        'CONTROL_PREFIX',
        'DEFAULT_ADMIN_PATHS',
        'DRAIN_ENV_VARIABLES',
        'DrainController',
        'DrainState',
        'ErrorCodes',
        'IDENTITY_HEADERS',
        'METRIC_NAMES',
        'PROTOCOL_VERSION',
        'PodWorkers',
        'REBALANCE_PROTOCOL',
        'RESUME_PROTOCOL_PREFIX',
        'codedError',
        'drainEnvFrom',
        'drainOptionsFromEnv',
        'drainOptionsOf',
        'joinPod',
        'registerMetricTable',
        'resolveDrainBudget',
      ],
      handoff: [
        'Handoff',
        'HandoffError',
        'HandoffErrorCodes',
        'MemoryStore',
        'RedisStore',
        'TOKEN_VERSION',
        'TokenSealer',
        'isHandoffError',
      ],
      client: [
        'BatonCloseEvent',
        'BatonMessageEvent',
        'BatonSocket',
        'MigratedEvent',
        'QUEUE_FULL',
        'QueueFullError',
        'ResumeEvent',
      ],
      'fastify-plugin': ['batonFastifyPlugin', 'batonPreClose', 'default'],
      relay: ['DEFAULT_FORWARD_HEADERS', 'Relay', 'RelayError', 'RelayErrorCodes', 'registerRelayMetrics'],
      probe: [
        'Fleet',
        'ProbeError',
        'ProbeErrorCodes',
        'REPORT_FORMAT',
        'RolloutWatch',
        'buildReport',
        'htmlReport',
        'mergeReports',
        'probeRelease',
        'reportRows',
        'reportTable',
        'runFromRecords',
        'since',
        'summarize',
      ],
      kubernetes: ['ErrorCodes', 'kubernetesRolloutHold'],
    });
  });

  it('runs the baton-probe bin: a short run against a local server, its JSON report, exit 0', async () => {
    const { WebSocketServer } = await import('ws');
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(server, 'listening');
    // What drain-core's identity option sends, so the report names the version.
    server.on('headers', (headers) => headers.push('Baton-Version: t1'));
    try {
      const address = server.address() as { port: number };
      const report = join(project, 'probe-report.json');
      await run(
        join(project, 'node_modules/.bin/baton-probe'),
        [
          'release',
          '--url',
          `ws://127.0.0.1:${address.port}/`,
          '--clients',
          '5',
          '--duration',
          '2',
          '--ramp',
          '0.2',
          '--json',
          report,
          '--max-multi',
          '0',
        ],
        { cwd: project, timeout: 30_000 },
      );
      const json = JSON.parse(readFileSync(report, 'utf8'));
      expect(json.format).toBe('baton-probe/1');
      expect(json.disconnects).toEqual({ '0': 5, '1': 0, '2': 0, '3+': 0 });
      expect(json.acceptsByVersion).toEqual({ t1: 5 });
    } finally {
      for (const client of server.clients) client.terminate();
      server.close();
    }
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
      Relay: 'function',
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

/** Every JavaScript block of the READMEs and docs a user reads. */
function codeBlocks(): { file: string; index: number; lang: string; code: string }[] {
  const files = [
    'README.md',
    ...readdirSync(join(root, 'docs')).map((file) => `docs/${file}`),
    ...PUBLISHED.map((name) => `packages/${name}/README.md`),
  ].filter((file) => file.endsWith('.md'));
  return files.flatMap((file) =>
    [...readFileSync(join(root, file), 'utf8').matchAll(/^```(\w*)[^\n]*\n([\s\S]*?)^```/gm)]
      .map((match, index) => ({ file, index, lang: match[1] as string, code: match[2] as string }))
      .filter((block) => ['js', 'javascript', 'mjs', 'ts', 'typescript'].includes(block.lang)),
  );
}

const DOC_ENV = {
  // What the blocks read from the environment, as a deployment would provide it.
  HANDOFF_KEY: 'b7e2f4a9c1d8e3f6a0b5c2d9e4f1a8b3c6d0e7f2a5b8c1d4e9f3a6b0c7d2e5f8',
  HANDOFF_KEY_K1: 'c3a9e1f7b2d6a0c8e4f1b9d3a7c5e2f0b8d4a6c1e9f3b7d0a2c8e5f1b4d9a3c6',
  HANDOFF_KEY_K2: 'd1f8b3e6a9c2f5d0b7e4a1c8f3d6b9e2a5c0f7d4b1e8a3c6f9d2b5e0a7c4f1b8',
};

describe('code blocks of the READMEs and docs', () => {
  const blocks = codeBlocks();
  const fragments = blocks.filter((block) => block.code.startsWith('// fragment'));
  const runnable = blocks.filter((block) => !block.code.startsWith('// fragment'));

  it('are either marked as fragments or run below', () => {
    expect(blocks.length).toBeGreaterThan(5);
    expect(runnable.length).toBeGreaterThanOrEqual(5);
    for (const block of fragments) expect(block.code).toMatch(/^\/\/ fragment: \S/);
    // A TypeScript block would need compiling first; none is runnable as it stands.
    expect(runnable.filter((block) => block.lang.startsWith('t'))).toEqual([]);
  });

  it.each(runnable.map((block) => [`${block.file} #${block.index + 1}`, block] as const))(
    'runs %s against the installed packages',
    async (_name, block) => {
      const file = join(project, `doc-${block.file.replaceAll('/', '-')}-${block.index}.mjs`);
      writeFileSync(file, block.code);
      // Node 20 has a global WebSocket only behind this flag; browser-side blocks rely on one.
      const child = fork(join(project, 'run-doc-block.mjs'), [file], {
        cwd: project,
        env: { ...process.env, ...DOC_ENV },
        execArgv: process.version.startsWith('v20.') ? ['--experimental-websocket', '--no-warnings'] : [],
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      });
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
      });
      const exited = once(child, 'exit');
      const [message] = (await Promise.race([once(child, 'message'), exited.then(() => [{ exited: true }])])) as [
        { evaluated?: true; error?: string; exited?: true },
      ];
      child.kill('SIGKILL');
      await exited;
      expect(message, stderr).toEqual({ evaluated: true });
    },
  );
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
