/**
 * The parked floor: the parked phase's idle runners as the dispatch floor's minimal runners
 * (bench/dispatch-floor-host.ts), each long-polling the dispatch floor's minimal server
 * (bench/dispatch-floor-server.ts: plain node:http, a timer per poll, 204 when it runs out; no
 * token, no schema, no status writes, no wake-up sweep) on the phase's redis-server, in as many
 * host processes, with the same long-poll length, their starts spread over one long-poll length as
 * Forge's registrations spread theirs, and the same wait before the same window. It says what that
 * many idle long-polls cost a server process on this machine at this minute; Forge's parked server
 * CPU ÷ it is what Forge's own work per idle poll adds (its runner token, the body's schema, the
 * claimant's queues, the status write, the sweep).
 */
import { now } from '../lib/hosts.js';
import { rssMb, sleep } from '../lib/procs.js';
import { cpuSeconds } from '../lib/stats.js';
import { log } from './context.js';
import { type FloorSite, startFloor } from './dispatch-floor.js';

export interface ParkedFloorWindow {
  window_s: number;
  server_cpu_pct_of_core: number;
  server_rss_mb: number;
  /** Long-polls the floor server answered 204 in the window (ran out with nothing to claim). */
  poll_answers_in_window: number;
  /** Server CPU over the window ÷ those answers. */
  server_cpu_ms_per_answer: number;
}

/** Wait after every runner parked, before the window: as Forge's parked phase waits. */
export const PARKED_SETTLE_MS = 3000;

/** `runners` idle floor runners parked for `windowSec`; every process of the floor is stopped after. */
export async function parkedFloor(site: FloorSite, runners: number, windowSec: number, logDir: string, name: string): Promise<ParkedFloorWindow> {
  const floor = await startFloor(site, '', logDir, name);
  try {
    // One at a time, round robin over the host processes, their starts spread over one long-poll
    // length as Forge's runners' registrations spread theirs (~25 ms each): polls that run out
    // together are answered in one wake-up of the server, far cheaper than a fleet's, whose polls
    // run out one by one all the time.
    for (let index = 0; index < runners; index++) {
      if (index > 0) await sleep((site.longPollSec * 1000) / runners);
      await floor.addRunners(1, (i) => i);
    }
    await floor.allParked(runners);
    await sleep(PARKED_SETTLE_MS);
    const cpu0 = cpuSeconds(floor.serverPid);
    const expired0 = await floor.expiredPolls();
    const t0 = now();
    await sleep(windowSec * 1000);
    const cpu = cpuSeconds(floor.serverPid) - cpu0;
    const answers = (await floor.expiredPolls()) - expired0;
    const seconds = (now() - t0) / 1000;
    const result: ParkedFloorWindow = {
      window_s: +seconds.toFixed(1),
      server_cpu_pct_of_core: +((cpu / seconds) * 100).toFixed(2),
      server_rss_mb: rssMb(floor.serverPid),
      poll_answers_in_window: answers,
      server_cpu_ms_per_answer: answers ? +((cpu * 1000) / answers).toFixed(3) : 0,
    };
    log(`${name}: ${runners} minimal runners parked: server ${result.server_cpu_pct_of_core} % of a core, ${answers} polls ran out in ${result.window_s} s`);
    return result;
  } finally {
    await floor.stop();
  }
}
