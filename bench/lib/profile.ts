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
}

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
    const where = url ? `${placeOf(url, functionName).replace(/^forge:/, '')}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'}${where ? ` (${where})` : ''}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    const place = placeOf(url, functionName);
    places.set(place, (places.get(place) ?? 0) + us);
  }
  const ms = (us: number) => +(us / 1000).toFixed(1);
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  return {
    file, wall_s: +((profile.endTime - profile.startTime) / 1e6).toFixed(1), busy_ms: ms(busy),
    functions: sorted(fns).map(([fn, us]) => ({ fn, ms: ms(us) })),
    places: sorted(places).map(([place, us]) => ({ place, ms: ms(us) })),
  };
}

export function profilesIn(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f));
  } catch {
    return [];
  }
}

/** Markdown for one process kind: places and functions, also per task when `tasks` is given. */
export function profileMarkdown(title: string, summaries: ProfileSummary[], tasks: number): string[] {
  if (!summaries.length) return [];
  const merge = (pick: (s: ProfileSummary) => Array<{ key: string; ms: number }>) => {
    const m = new Map<string, number>();
    for (const s of summaries) for (const { key, ms } of pick(s)) m.set(key, (m.get(key) ?? 0) + ms);
    return [...m].sort((a, b) => b[1] - a[1]).slice(0, 20);
  };
  const busy = summaries.reduce((a, s) => a + s.busy_ms, 0);
  const per = (ms: number) => (tasks > 0 ? ` | ${(ms / tasks).toFixed(3)}` : '');
  const lines = [`### ${title}`, '', `${summaries.length} profile(s), ${busy.toFixed(0)} ms sampled busy${tasks > 0 ? `, ${tasks} tasks in their lifetime (${(busy / tasks).toFixed(2)} ms per task, start-up included)` : ''}.`, ''];
  lines.push(`| where (self time) | ms${tasks > 0 ? ' | ms per task' : ''} |`, `|---|---:${tasks > 0 ? '|---:' : ''}|`);
  for (const [k, v] of merge((s) => s.places.map((p) => ({ key: p.place, ms: p.ms })))) lines.push(`| ${k} | ${v.toFixed(1)}${per(v)} |`);
  lines.push('', `| function (self time) | ms${tasks > 0 ? ' | ms per task' : ''} |`, `|---|---:${tasks > 0 ? '|---:' : ''}|`);
  for (const [k, v] of merge((s) => s.functions.map((f) => ({ key: f.fn, ms: f.ms })))) lines.push(`| \`${k.replace(/\|/g, '\\|')}\` | ${v.toFixed(1)}${per(v)} |`);
  lines.push('');
  return lines;
}
