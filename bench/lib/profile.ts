/**
 * Reads V8 `.cpuprofile` files (node --cpu-prof) and says where the time went: sampled CPU by
 * function (self time), and by where the code lives (a Forge source file, an npm package, Node's
 * own code, the garbage collector). Used to write the profile section of the results.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { projectRoot } from './procs.js';

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export interface ProfileSummary {
  file: string;
  wall_s: number;
  /** Sampled time not idle, ms. */
  busy_ms: number;
  /** Top functions by self time: "name (where:line)" → ms. */
  functions: Array<{ fn: string; ms: number }>;
  /** Self time by place: forge:<file>, npm:<package>, node:<module>, gc, program. */
  places: Array<{ place: string; ms: number }>;
  /** For the top functions: the call paths (innermost first, a few frames) that spent their time. */
  paths: Array<{ path: string; ms: number }>;
}

const frameName = (node: ProfileNode) => {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url ? placeOf(url, functionName).replace(/^forge:/, '').replace(/^npm:/, '') : '';
  return `${functionName || '(anonymous)'}${where ? ` (${where}:${lineNumber + 1})` : ''}`;
};

function placeOf(url: string, name: string): string {
  if (name === '(garbage collector)') return 'gc';
  if (name === '(program)') return 'program (native, outside JS)';
  if (!url) return name || '(native)';
  if (url.startsWith('node:')) return url;
  const path = url.replace(/^file:\/\//, '');
  const npm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (npm) return `npm:${npm[1]}`;
  return `forge:${relative(projectRoot, path)}`;
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const fns = new Map<string, number>();
  const places = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    busy += us;
    const key = frameName(node);
    fns.set(key, (fns.get(key) ?? 0) + us);
    const place = placeOf(url, functionName);
    places.set(place, (places.get(place) ?? 0) + us);
  }
  const ms = (us: number) => +(us / 1000).toFixed(1);
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  // Call paths of the heaviest functions, up to the first Forge frame (or 6 frames).
  const heavy = new Set(sorted(fns).slice(0, 10).map(([fn]) => fn));
  const paths = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    if (!heavy.has(frameName(node))) continue;
    const frames = [frameName(node)];
    // Node's own frames are skipped after the first, so the path shows who called into Node.
    for (let cur = parent.get(id); cur !== undefined && frames.length < 6; cur = parent.get(cur)) {
      const frame = byId.get(cur)!;
      if (!frame.callFrame.url || frame.callFrame.url.startsWith('node:')) continue;
      frames.push(frameName(frame));
      if (frame.callFrame.url.includes('/dist/') || frame.callFrame.url.includes('/workers/') || frame.callFrame.url.includes('/services/')) break;
    }
    const path = frames.join(' ← ');
    paths.set(path, (paths.get(path) ?? 0) + us);
  }
  return {
    file, wall_s: +((profile.endTime - profile.startTime) / 1e6).toFixed(1), busy_ms: ms(busy),
    functions: sorted(fns).map(([fn, us]) => ({ fn, ms: ms(us) })),
    places: sorted(places).map(([place, us]) => ({ place, ms: ms(us) })),
    paths: sorted(paths).slice(0, 12).map(([path, us]) => ({ path, ms: ms(us) })),
  };
}

export function profilesIn(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f));
  } catch {
    return [];
  }
}

/**
 * Markdown for one process kind: self time by place, by function, and the heaviest call paths, as
 * shares of the sampled busy time. Sampled time is wall time the thread was not idle: it includes
 * time blocked in synchronous system calls (spawn, rmSync) and, on a busy machine, time waiting for
 * a CPU, so shares say where the time goes and CPU figures come from /proc, not from here.
 */
export function profileMarkdown(title: string, summaries: ProfileSummary[], tasks: number): string[] {
  if (!summaries.length) return [];
  const merge = (pick: (s: ProfileSummary) => Array<{ key: string; ms: number }>, top = 20) => {
    const m = new Map<string, number>();
    for (const s of summaries) for (const { key, ms } of pick(s)) m.set(key, (m.get(key) ?? 0) + ms);
    return [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  };
  const busy = summaries.reduce((a, s) => a + s.busy_ms, 0);
  const share = (ms: number) => `${((ms / busy) * 100).toFixed(1)} %`;
  const per = (ms: number) => (tasks > 0 ? ` | ${(ms / tasks).toFixed(2)}` : '');
  const head = (what: string) => [`| ${what} | share of sampled${tasks > 0 ? ' | sampled ms per task' : ''} |`, `|---|---:${tasks > 0 ? '|---:' : ''}|`];
  const esc = (k: string) => `\`${k.replace(/\|/g, '\\|')}\``;
  const lines = [`### ${title}`, '', `${summaries.length} profile(s), ${busy.toFixed(0)} ms sampled not idle${tasks > 0 ? ` over ${tasks} tasks (start-up included)` : ''}.`, ''];
  lines.push(...head('where (self time)'));
  for (const [k, v] of merge((s) => s.places.map((p) => ({ key: p.place, ms: p.ms })), 15)) lines.push(`| ${k} | ${share(v)}${per(v)} |`);
  lines.push('', ...head('function (self time)'));
  for (const [k, v] of merge((s) => s.functions.map((f) => ({ key: f.fn, ms: f.ms })), 15)) lines.push(`| ${esc(k)} | ${share(v)}${per(v)} |`);
  lines.push('', ...head('call path of a heavy function (innermost first)'));
  for (const [k, v] of merge((s) => s.paths.map((p) => ({ key: p.path, ms: p.ms })), 12)) lines.push(`| ${esc(k)} | ${share(v)}${per(v)} |`);
  lines.push('');
  return lines;
}
