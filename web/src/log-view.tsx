/**
 * A task's output as a virtual list: only the lines in view (plus a margin) are in the page, so
 * 100,000 lines scroll as smoothly as 100. Lines do not wrap (each is one fixed-height row), which
 * is what makes the window arithmetic exact. Search marks every match in view and jumps between
 * them; it also covers lines that arrive while it is open.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Segment } from './ansi';
import { clockTime } from './ui';

export interface LogLine { id: string; time: string; segs: Segment[]; text: string; lower: string }

/** Row height in px; the CSS gives .log .line the same height. */
export const LINE_PX = 20;
const OVERSCAN = 150;

export interface Match { line: number; start: number }

/** Every occurrence of `q` (lower case) in lines[from..], appended to `out`. */
export function findMatches(lines: LogLine[], q: string, from: number, out: Match[]): void {
  if (!q) return;
  for (let i = from; i < lines.length; i++) {
    const text = lines[i]!.lower;
    for (let at = text.indexOf(q); at >= 0; at = text.indexOf(q, at + q.length)) out.push({ line: i, start: at });
  }
}

/** The segments of a line with the matched ranges wrapped in <mark>. */
function renderLine(segs: Segment[], q: string, lower: string, current: number | null): ComponentChildren {
  const ranges: Array<[number, number]> = [];
  if (q) for (let at = lower.indexOf(q); at >= 0; at = lower.indexOf(q, at + q.length)) ranges.push([at, at + q.length]);
  const out: ComponentChildren[] = [];
  let pos = 0;
  let key = 0;
  for (const seg of segs) {
    const end = pos + seg.text.length;
    let cut = pos;
    const pieces: ComponentChildren[] = [];
    for (const [a, b] of ranges) {
      if (b <= cut || a >= end) continue;
      const from = Math.max(a, cut);
      const to = Math.min(b, end);
      if (from > cut) pieces.push(seg.text.slice(cut - pos, from - pos));
      pieces.push(<mark key={key++} class={a === current ? 'current' : undefined}>{seg.text.slice(from - pos, to - pos)}</mark>);
      cut = to;
    }
    if (cut < end) pieces.push(seg.text.slice(cut - pos));
    const style = seg.color || seg.bg ? { color: seg.color, backgroundColor: seg.bg } : undefined;
    out.push(seg.cls || style ? <span key={key++} class={seg.cls || undefined} style={style}>{pieces}</span> : pieces);
    pos = end;
  }
  return out;
}

export function LogView({ lines, version, following, onFollowChange, query, current, jump, timestamps }: {
  lines: LogLine[]; version: number; following: boolean; onFollowChange: (f: boolean) => void;
  query: string; current: Match | null; jump: number; timestamps: boolean;
}) {
  const box = useRef<HTMLDivElement>(null);
  const [view, setView] = useState({ top: 0, height: 600 });
  const frame = useRef(0);
  const n = lines.length;

  const onScroll = () => {
    const el = box.current;
    if (!el || frame.current) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = 0;
      setView({ top: el.scrollTop, height: el.clientHeight });
      const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
      if (atBottom !== following) onFollowChange(atBottom);
    });
  };
  useEffect(() => () => cancelAnimationFrame(frame.current), []);

  // Following: stay at the end as lines arrive.
  useLayoutEffect(() => {
    const el = box.current;
    if (!el || !following) return;
    el.scrollTop = el.scrollHeight;
    setView({ top: el.scrollTop, height: el.clientHeight });
  }, [version, following]);

  // Jump to the current match, centred.
  useLayoutEffect(() => {
    const el = box.current;
    if (!el || !current) return;
    const target = Math.max(0, current.line * LINE_PX - el.clientHeight / 2);
    el.scrollTop = target;
    setView({ top: el.scrollTop, height: el.clientHeight });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [jump]);

  const first = Math.max(0, Math.floor(view.top / LINE_PX) - OVERSCAN);
  const last = Math.min(n, Math.ceil((view.top + view.height) / LINE_PX) + OVERSCAN);
  const rows = useMemo(() => {
    const out = [];
    for (let i = first; i < last; i++) {
      const l = lines[i]!;
      const hit = query && l.lower.includes(query);
      out.push(
        <div key={l.id} class="line" data-n={i + 1}>
          <span class="ts" aria-hidden="true">{l.time ? clockTime(l.time) : ''}</span>
          <span class="text">{hit ? renderLine(l.segs, query, l.lower, current?.line === i ? current.start : null) : renderLine(l.segs, '', '', null)}</span>
        </div>,
      );
    }
    return out;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [first, last, version, query, current, lines]);

  return (
    <div ref={box} class={`log${timestamps ? ' with-ts' : ''}`} role="log" aria-label="Task output" aria-live="off" tabIndex={0} data-testid="task-output" onScroll={onScroll}>
      <div class="log-rows" style={{ height: `${n * LINE_PX}px` }}>
        <div class="log-window" style={{ top: `${first * LINE_PX}px` }}>{rows}</div>
      </div>
    </div>
  );
}
