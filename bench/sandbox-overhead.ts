/**
 * What the task sandbox costs: the same no-op process (`true`) started through the executor's
 * runProcess without and with the bubblewrap sandbox (the mounts a task step gets), alternately,
 * wall time per start. Run alone with `npx tsx bench/sandbox-overhead.ts`; `npm run bench` includes it.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProcess } from '../workers/executor/process.js';
import { INSIDE, prepareSandbox } from '../workers/executor/sandbox.js';

export interface SandboxOverhead { starts: number; plain_ms: { p50: number; p90: number }; sandboxed_ms: { p50: number; p90: number }; overhead_p50_ms: number }

const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))]!;

export async function measureSandboxOverhead(log: (line: string) => void = console.log, starts = 30): Promise<SandboxOverhead> {
  const work = mkdtempSync(join(tmpdir(), 'forge-sandbox-bench-'));
  mkdirSync(join(work, 'repository'));
  try {
    // As the executor runs them: as root, through setpriv to the task user (bootstrap creates it).
    const bwrap = prepareSandbox({ mode: 'bwrap', taskUser: process.getuid?.() === 0 ? 'forge-task' : '', hidden: [], tmpPath: work });
    const none = prepareSandbox({ mode: 'none', taskUser: '', hidden: [], tmpPath: work });
    const once = async (sandboxed: boolean) => {
      const began = process.hrtime.bigint();
      await runProcess('true', [], {
        cwd: sandboxed ? join(INSIDE.task, 'repository') : join(work, 'repository'), env: { PATH: process.env.PATH ?? '' }, onLine: () => {},
        sandbox: sandboxed ? { settings: bwrap, mounts: [{ host: work, inside: INSIDE.task, writable: true }] } : { settings: none, mounts: [] },
      });
      return Number(process.hrtime.bigint() - began) / 1e6;
    };
    await once(false);
    await once(true);
    const plain: number[] = [];
    const sandboxed: number[] = [];
    for (let i = 0; i < starts; i++) {
      plain.push(await once(false));
      sandboxed.push(await once(true));
    }
    const result = {
      starts, plain_ms: { p50: quantile(plain, 0.5), p90: quantile(plain, 0.9) }, sandboxed_ms: { p50: quantile(sandboxed, 0.5), p90: quantile(sandboxed, 0.9) },
      overhead_p50_ms: quantile(sandboxed, 0.5) - quantile(plain, 0.5),
    };
    log(`sandbox start overhead per task process: +${result.overhead_p50_ms.toFixed(1)} ms p50 (plain ${result.plain_ms.p50.toFixed(1)} ms, sandboxed ${result.sandboxed_ms.p50.toFixed(1)} ms p50, ${result.sandboxed_ms.p90.toFixed(1)} ms p90; ${starts} starts each)`);
    return result;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await measureSandboxOverhead();
