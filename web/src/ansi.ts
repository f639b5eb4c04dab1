/**
 * ANSI SGR colours to styled segments, rendered as text in spans (never as HTML), so task output
 * cannot inject markup. The style state carries across lines, as terminals do. Other escape
 * sequences (cursor moves, OSC titles) are dropped; a carriage return keeps what follows it, so
 * progress bars show their last state.
 */
export interface AnsiState { fg: string | null; bg: string | null; bold: boolean; dim: boolean; italic: boolean; underline: boolean; inverse: boolean }

export const newAnsiState = (): AnsiState => ({ fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, inverse: false });

const PALETTE_256 = (n: number): string => {
  if (n < 16) return `c${n}`;
  if (n < 232) {
    const v = n - 16;
    const level = (x: number) => (x === 0 ? 0 : 55 + x * 40);
    return `rgb(${level(Math.floor(v / 36))},${level(Math.floor(v / 6) % 6)},${level(v % 6)})`;
  }
  const g = 8 + (n - 232) * 10;
  return `rgb(${g},${g},${g})`;
};

// CSI ... final byte, OSC ... BEL/ST, and lone two-byte escapes.
const ESCAPES = /\x1b\[([0-9;?]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

function applySgr(state: AnsiState, params: string): void {
  const codes = params === '' ? [0] : params.split(';').map((p) => Number(p) || 0);
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i]!;
    if (c === 0) Object.assign(state, newAnsiState());
    else if (c === 1) state.bold = true;
    else if (c === 2) state.dim = true;
    else if (c === 3) state.italic = true;
    else if (c === 4) state.underline = true;
    else if (c === 7) state.inverse = true;
    else if (c === 22) state.bold = state.dim = false;
    else if (c === 23) state.italic = false;
    else if (c === 24) state.underline = false;
    else if (c === 27) state.inverse = false;
    else if (c >= 30 && c <= 37) state.fg = `c${c - 30}`;
    else if (c >= 90 && c <= 97) state.fg = `c${c - 90 + 8}`;
    else if (c === 39) state.fg = null;
    else if (c >= 40 && c <= 47) state.bg = `c${c - 40}`;
    else if (c >= 100 && c <= 107) state.bg = `c${c - 100 + 8}`;
    else if (c === 49) state.bg = null;
    else if ((c === 38 || c === 48) && codes[i + 1] === 5 && codes[i + 2] !== undefined) {
      const colour = PALETTE_256(codes[i + 2]!);
      if (c === 38) state.fg = colour;
      else state.bg = colour;
      i += 2;
    } else if ((c === 38 || c === 48) && codes[i + 1] === 2 && codes[i + 4] !== undefined) {
      const colour = `rgb(${codes[i + 2]},${codes[i + 3]},${codes[i + 4]})`;
      if (c === 38) state.fg = colour;
      else state.bg = colour;
      i += 4;
    }
  }
}

/** A run of text in one style: classes for the 16 colours and attributes, CSS colours for the rest. */
export interface Segment { text: string; cls: string; color?: string; bg?: string }

function segment(text: string, state: AnsiState): Segment {
  const [fg, bg] = state.inverse ? [state.bg ?? 'cbg', state.fg ?? 'cfg'] : [state.fg, state.bg];
  const seg: Segment = { text, cls: '' };
  const classes: string[] = [];
  if (fg) {
    if (fg.startsWith('c')) classes.push(`a-fg-${fg.slice(1)}`);
    else seg.color = fg;
  }
  if (bg) {
    if (bg.startsWith('c')) classes.push(`a-bg-${bg.slice(1)}`);
    else seg.bg = bg;
  }
  if (state.bold) classes.push('a-b');
  if (state.dim) classes.push('a-d');
  if (state.italic) classes.push('a-i');
  if (state.underline) classes.push('a-u');
  seg.cls = classes.join(' ');
  return seg;
}

/**
 * Splits one output line into styled segments, updating `state` (styles carry across lines). The
 * segments' texts joined are the line as shown, which is what search looks in.
 */
export function ansiSegments(line: string, state: AnsiState): Segment[] {
  const cr = line.lastIndexOf('\r', line.length - 2);
  const text = cr >= 0 ? line.slice(cr + 1) : line;
  const out: Segment[] = [];
  let last = 0;
  ESCAPES.lastIndex = 0;
  for (let m = ESCAPES.exec(text); m; m = ESCAPES.exec(text)) {
    if (m.index > last) out.push(segment(text.slice(last, m.index), state));
    if (m[2] === 'm' && m[1] !== undefined && !m[1].startsWith('?')) applySgr(state, m[1]);
    last = ESCAPES.lastIndex;
  }
  if (last < text.length) out.push(segment(text.slice(last).replace(/\r$/, ''), state));
  return out;
}

/** The text without escape sequences (for copying and searching). */
export const stripAnsi = (line: string) => line.replace(ESCAPES, '');
