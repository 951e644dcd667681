// The bench's child processes, spoken to over IPC: wait for a message of a type, and stop them.

import { once } from 'node:events';

/** Resolves with the child's next message of `type`; rejects if it exits first. */
export function nextMessage(child, type) {
  return new Promise((resolve, reject) => {
    const onMessage = (message) => {
      if (message.type !== type) return;
      cleanup();
      resolve(message);
    };
    const onExit = (code) => {
      cleanup();
      reject(new Error(`child exited with ${code} before sending ${type}`));
    };
    const cleanup = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Ask each child to exit, and wait until it has. */
export async function stop(...children) {
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.send({ type: 'exit' });
      await exited;
    }),
  );
}
