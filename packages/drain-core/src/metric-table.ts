// Prometheus metrics declared as a table: each row is a name, a help text, a kind and what its samples are,
// read at scrape time. One registration walks the table, and the names to unregister are the table's own,
// so a metric can never be registered and then forgotten. drain-core's metrics (metrics.ts) and the relay's
// are two tables over this one mechanism.

/** One sample: its labels (none for an unlabelled metric) and its value. */
export type MetricSample = readonly [labels: Readonly<Record<string, string>> | undefined, value: number];

export interface MetricRow<Source> {
  name: string;
  help: string;
  /** A gauge is set to its samples; a counter is reset and incremented to them (totals kept elsewhere). */
  kind: 'gauge' | 'counter';
  labelNames?: readonly string[];
  /** The samples at scrape time, from the source the table is registered with. */
  samples(source: Source): readonly MetricSample[];
}

/** The part of a prom-client Registry this needs. */
interface TableRegistry {
  removeSingleMetric(name: string): void;
}

/**
 * Register every row of `table` into `registry` (a prom-client Registry) with prom-client's own classes;
 * `read` gives the source at each scrape. Returns the removal of exactly these metrics.
 */
export function registerMetricTable<Source>(
  client: typeof import('prom-client'),
  registry: unknown,
  table: readonly MetricRow<Source>[],
  read: () => Source,
): () => void {
  const target = registry as import('prom-client').Registry & TableRegistry;
  for (const row of table) {
    const common = { name: row.name, help: row.help, labelNames: [...(row.labelNames ?? [])], registers: [target] };
    if (row.kind === 'gauge') {
      new client.Gauge({
        ...common,
        collect() {
          for (const [labels, value] of row.samples(read())) {
            if (labels) this.set(labels, value);
            else this.set(value);
          }
        },
      });
    } else {
      new client.Counter({
        ...common,
        collect() {
          this.reset();
          for (const [labels, value] of row.samples(read())) {
            if (labels) this.inc(labels, value);
            else this.inc(value);
          }
        },
      });
    }
  }
  return () => {
    for (const row of table) target.removeSingleMetric(row.name);
  };
}
