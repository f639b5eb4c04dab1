import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ACTIVE_STATUSES, type Task } from './common/model.js';
import type { TaskQueues } from './dispatch/queues.js';
import type { GatewayCounters } from './gateway/core.js';
import type { Stores } from './store/stores.js';

/**
 * Prometheus metrics. Counters and histograms are per process; gauges (queue depth, oldest wait,
 * runners) are read from Redis at scrape time, so every replica reports the same picture.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly created = new Counter({ name: 'forge_tasks_created_total', help: 'Tasks created', registers: [this.registry] });
  private readonly finished = new Counter({ name: 'forge_tasks_finished_total', help: 'Tasks finalised, by status', labelNames: ['status'], registers: [this.registry] });
  private readonly dispatch = new Histogram({
    name: 'forge_dispatch_latency_seconds', help: 'Time from task creation to a runner claiming it',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300], registers: [this.registry],
  });
  private readonly reconcilerLag = new Histogram({
    name: 'forge_reconciler_lag_seconds', help: 'Time from a task ending on its runner to its record being final',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30], registers: [this.registry],
  });
  private readonly output = new Counter({ name: 'forge_output_bytes_total', help: 'Task output bytes received', registers: [this.registry] });
  private readonly wakeups = new Counter({ name: 'forge_runner_wakeups_total', help: 'Parked long-polls woken by new work (at most one per enqueue per process)', registers: [this.registry] });
  private readonly handOffs = new Counter({
    name: 'forge_dispatch_handoffs_total', registers: [this.registry],
    help: 'New tasks that went to a runner whose long-poll was parked on this server in the same step as their creation (no wake-up, no claim of their own)',
  });
  private readonly emptyClaims = new Counter({ name: 'forge_empty_claims_total', help: 'Claim passes that found no job for the executor', registers: [this.registry] });
  private readonly renewedLeases = new Counter({
    name: 'forge_leases_renewed_total', labelNames: ['why'], registers: [this.registry],
    help: 'Leases renewed instead of judged: why="late" while heartbeats arrived late (the server or Redis behind; no runner is declared lost meanwhile), why="outage" after no watchdog pass could run',
  });
  readonly gatewayCounters: GatewayCounters = {
    wake: () => this.wakeups.inc(),
    emptyClaim: () => this.emptyClaims.inc(),
    outputBytes: (bytes) => this.output.inc(bytes),
    handedOff: () => this.handOffs.inc(),
    claimed: (task) => this.dispatch.observe(Math.max(0, (Date.now() - Date.parse(task.created)) / 1000)),
    leasesRenewed: (why, count) => this.renewedLeases.inc({ why }, count),
  };

  constructor(stores: Stores, queues: TaskQueues) {
    const registry = this.registry;
    // The process's own health, under the names every Node dashboard knows: CPU, memory, open
    // handles, event-loop lag (a server that is behind answers late) and GC pauses.
    collectDefaultMetrics({ register: registry });
    new Gauge({
      name: 'forge_tasks', help: 'Tasks now waiting or active, by status', labelNames: ['status'], registers: [registry],
      async collect() {
        const [waiting, active] = await Promise.all([stores.tasks.waitingIds(), stores.tasks.activeIds()]);
        this.reset();
        this.set({ status: 'waiting' }, waiting.length);
        const tasks = await stores.tasks.getMany(active);
        for (const status of ACTIVE_STATUSES) this.set({ status }, tasks.filter((t) => t.status === status).length);
      },
    });
    const depth = new Gauge({ name: 'forge_queue_depth', help: 'Jobs waiting per queue', labelNames: ['project', 'tag'], registers: [registry] });
    new Gauge({
      name: 'forge_queue_oldest_wait_seconds', help: 'Age of the oldest waiting job per queue', labelNames: ['project', 'tag'], registers: [registry],
      async collect() {
        this.reset();
        depth.reset();
        for (const [name, scope] of queues.list()) {
          const labels = { project: String(scope.project_id), tag: scope.tag || 'untagged' };
          const [counts, head] = await Promise.all([queues.counts(name), queues.head(name)]);
          depth.set(labels, counts.waiting);
          // The head is the oldest waiting task (FIFO; a requeued one went back to the head).
          const oldest = head === null ? undefined : await stores.tasks.get(head);
          this.set(labels, oldest ? Math.max(0, (Date.now() - Date.parse(oldest.created)) / 1000) : 0);
        }
      },
    });
    new Gauge({
      name: 'forge_runners', help: 'Runners by state', labelNames: ['state'], registers: [registry],
      async collect() {
        const views = await stores.runners.views();
        this.reset();
        for (const state of ['online', 'offline', 'disabled'] as const) this.set({ state }, views.filter((v) => v.status === state).length);
        this.set({ state: 'busy' }, views.filter((v) => v.active_tasks > 0).length);
      },
    });
  }

  /** The long-polls parked in the gateway's parking (made after the metrics), read at scrape time. */
  parkedFrom(parking: { counts(): { waiting: number; full: number } }): void {
    new Gauge({
      name: 'forge_parked_polls', labelNames: ['kind'], registers: [this.registry],
      help: 'Runner long-polls parked on this server now: kind="waiting" for work, kind="full" for a slot of their runner to free',
      collect() {
        const { waiting, full } = parking.counts();
        this.set({ kind: 'waiting' }, waiting);
        this.set({ kind: 'full' }, full);
      },
    });
  }

  taskCreated(_task: Task): void {
    this.created.inc();
  }

  taskFinalised(task: Task): void {
    this.finished.inc({ status: task.status });
    if (task.end) this.reconcilerLag.observe(Math.max(0, (Date.now() - Date.parse(task.end)) / 1000));
  }

}
