/**
 * The protocol floor: the throughput phase's batch (the same no-op tasks, 40 slots, the same POSTs
 * in flight, measured the same way) through the dispatch floor's minimal server and runners
 * (bench/dispatch-floor-server.ts, bench/dispatch-floor-host.ts) on the phase's redis-server (keys
 * under `dfloor:`): each task created over HTTP, claimed by a parked long-poll, sealed, cloned,
 * started (the start report), run and reported. Forge ÷ protocol floor is what Forge's server,
 * agent and protocol cost beyond the hops any server/runner protocol needs on this machine;
 * protocol floor ÷ sandboxed work floor is what those hops cost.
 */
import { type BatchFigures, type BatchTarget, measureBatch, warmUp, type WarmUpChunk } from './throughput.js';
import { type Ctx, log, ownCpu } from './context.js';
import { floorSite, startFloor } from './dispatch-floor.js';

export interface ProtocolFloorResult extends BatchFigures {
  /** Single-slot runners: one per slot of Forge's runners (runners × max_parallel_tasks). */
  runners: number; max_parallel_tasks: 1;
  /** Slots per runner host process, as Forge's runners place theirs. */
  slots_per_host: number[];
  /** The warm-up's chunks, each measured as the batch is. */
  warm_up: WarmUpChunk[];
}

/** The batch through the floor, its runners' slots in `hostCount` host processes as Forge's runners place theirs. */
export async function protocolFloor(ctx: Ctx, repo: string, logDir: string, hostCount: number): Promise<ProtocolFloorResult> {
  const t = ctx.cfg.throughput;
  const slots = t.runners * t.maxParallel;
  log(`protocol floor: ${t.tasks} tasks through a minimal server and ${slots} single-slot runners in ${hostCount} host process(es), ${t.inflight} POSTs in flight`);
  const floor = await startFloor(floorSite(ctx.env, ctx.cfg), repo, logDir, 'protocol-floor');
  try {
    // Forge's runner r (of maxParallel slots) lives in host r mod hosts: its slots go there as
    // single-slot runners, so every host process runs as many tasks at once as Forge's does.
    const hostOf = (slot: number) => Math.floor(slot / t.maxParallel) % hostCount;
    await floor.addRunners(slots, hostOf);
    await floor.allParked(slots);
    const target: BatchTarget = {
      create: floor.create, hosts: floor.hosts, serverPid: floor.serverPid, records: floor.records,
      ownCpu: () => ownCpu(ctx) + floor.cpu(),
      // A runner's 'finished' follows its result's answer, which follows the MULTI that made the record final.
      settled: async () => {},
    };
    const warmUpChunks = await warmUp(ctx, target, 'protocol floor', hostCount);
    const figures = await measureBatch(ctx, target);
    if (floor.hosts.rejections.length) throw new Error(`protocol floor tasks failed: ${floor.hosts.rejections.join('; ')}`);
    const slotsPerHost = Array.from({ length: hostCount }, (_, h) => Array.from({ length: slots }, (_, s) => hostOf(s)).filter((x) => x === h).length);
    return { runners: slots, max_parallel_tasks: 1, slots_per_host: slotsPerHost, ...figures, warm_up: warmUpChunks };
  } finally {
    await floor.stop();
  }
}
