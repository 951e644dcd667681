// What every benchmark server process answers over IPC: its memory (after GC, with its connection count), its
// CPU time, and exit. `handlers` answers the process's own message types.

/**
 * @param {() => number} connections
 * @param {Record<string, (message: object) => unknown>} [handlers]
 */
export function answerProbes(connections, handlers = {}) {
  process.on('message', (message) => {
    switch (message.type) {
      case 'memory': {
        for (let i = 0; i < 3; i++) globalThis.gc?.();
        const { rss, heapUsed } = process.memoryUsage();
        return process.send?.({ type: 'memory', rss, heapUsed, connections: connections() });
      }
      case 'cpu': {
        const { user, system } = process.cpuUsage();
        return process.send?.({ type: 'cpu', micros: user + system });
      }
      case 'exit':
        process.exit(0);
        break;
      default:
        return handlers[message.type]?.(message);
    }
  });
}
