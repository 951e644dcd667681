// drain-core's exit policy in real processes: only a drain of a pod being deleted ends the process, after a
// signal by default ('on-signal'), after any terminating drain with 'always', never with 'never'.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useCleanups } from './support/cleanups.js';
import { manualDrain, preStopDrain } from './support/drain-requests.js';
import { TEST_ADMIN_TOKEN } from './support/secrets.js';

const fixture = fileURLToPath(new URL('./fixtures/exit-policy.mjs', import.meta.url));
const cleanups = useCleanups();

interface PolicyProcess {
  child: ChildProcess;
  admin: string;
  drained: Promise<{ trigger: string; signalled: boolean }>;
  exited: Promise<number | null>;
}

async function start(exitAfterDrain: string): Promise<PolicyProcess> {
  const child = spawn(process.execPath, [fixture], {
    env: { ...process.env, EXIT_AFTER_DRAIN: exitAfterDrain, BATON_ADMIN_TOKEN: TEST_ADMIN_TOKEN },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  let resolveDrained: (report: { trigger: string; signalled: boolean }) => void = () => {};
  const drained = new Promise<{ trigger: string; signalled: boolean }>((resolve) => {
    resolveDrained = resolve;
  });
  const port = await new Promise<number>((resolve) =>
    lines.on('line', (text) => {
      const line = JSON.parse(text);
      if (line.port) resolve(line.port);
      if (line.drained) resolveDrained(line.drained);
    }),
  );
  return { child, admin: `http://127.0.0.1:${port}`, drained, exited };
}

/**
 * The process is still up and serving its admin endpoints: two round trips after the drain ended. An exit
 * decided at the drain's end stops the admin server first (in the same tick as 'drained'), so these fail then.
 */
async function stillServing(pod: PolicyProcess): Promise<void> {
  for (let i = 0; i < 2; i++) expect((await fetch(`${pod.admin}/livez`)).status).toBe(200);
  expect(pod.child.exitCode).toBeNull();
  expect(pod.child.signalCode).toBeNull();
}

describe('exitAfterDrain', () => {
  it("'always': a preStop drain ends the process with 0, no signal needed", async () => {
    const pod = await start('always');
    expect((await preStopDrain(pod.admin)).status).toBe(202);
    expect(await pod.drained).toMatchObject({ trigger: 'prestop', signalled: false });
    expect(await pod.exited).toBe(0);
  });

  it("'on-signal' (default): a preStop drain alone leaves the process up; the SIGTERM that follows ends it", async () => {
    const pod = await start('on-signal');
    expect((await preStopDrain(pod.admin)).status).toBe(202);
    expect(await pod.drained).toMatchObject({ trigger: 'prestop', signalled: false });
    // Drained and still serving its admin endpoints: it did not exit.
    await stillServing(pod);
    pod.child.kill('SIGTERM');
    expect(await pod.exited).toBe(0);
  });

  it("'never': drained after SIGTERM and still up; the process is the app's to end", async () => {
    const pod = await start('never');
    pod.child.kill('SIGTERM');
    expect(await pod.drained).toMatchObject({ trigger: 'signal', signalled: true });
    await stillServing(pod);
  });

  it("'always': a manual drain (POST, a pod that stays) drains every connection and never ends the process", async () => {
    const pod = await start('always');
    expect((await manualDrain(pod.admin, TEST_ADMIN_TOKEN)).status).toBe(202);
    expect(await pod.drained).toMatchObject({ trigger: 'admin', signalled: false });
    await stillServing(pod);
  });
});
