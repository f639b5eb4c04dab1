/**
 * A minimal Server-Sent Events reader over fetch, for Forge's live output stream. It parses the
 * `id:`, `event:` and `data:` fields of each event (comments and `retry:` are skipped) and hands
 * events out one at a time, so a test can read part of a stream, close it, and resume elsewhere.
 */

export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

export class SseStream {
  private buffer = '';
  private readonly queue: SseEvent[] = [];
  private ended = false;
  private readonly decoder = new TextDecoder();
  /** A read that outlived a timeout is kept, so no chunk is lost to the next call. */
  private pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;

  private constructor(
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    private readonly abort: AbortController,
    readonly status: number,
    readonly headers: Headers,
  ) {}

  /** Opens the stream; throws unless the answer is 200 text/event-stream. */
  static async open(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
    const abort = new AbortController();
    const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
    if (res.status !== 200 || !(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      const text = await res.text().catch(() => '');
      throw new Error(`SSE ${url} answered ${res.status} ${res.headers.get('content-type')}: ${text.slice(0, 300)}`);
    }
    return new SseStream(res.body!.getReader(), abort, res.status, res.headers);
  }

  private parse(): void {
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end < 0) return;
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let id: string | undefined;
      let event = 'message';
      const data: string[] = [];
      let any = false;
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') id = value;
        else if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
        else continue; // retry: and unknown fields
        any = true;
      }
      if (any) this.queue.push({ id, event, data: data.join('\n') });
    }
  }

  /** The next event; undefined once the server has closed the stream. Rejects after `timeoutMs`. */
  async next(timeoutMs = 15_000): Promise<SseEvent | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0 && !this.ended) {
      let timer: NodeJS.Timeout | undefined;
      this.pending ??= this.reader.read();
      const chunk = await Promise.race([
        this.pending,
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no SSE event within ${timeoutMs} ms`)), Math.max(0, deadline - Date.now())))),
      ]).finally(() => clearTimeout(timer));
      this.pending = undefined;
      if (chunk.done) this.ended = true;
      else {
        this.buffer += this.decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, '\n');
        this.parse();
      }
    }
    return this.queue.shift();
  }

  /** Reads events until `stop(event)` is true (that event included) or the stream ends. */
  async readUntil(stop: (event: SseEvent) => boolean, timeoutMs = 15_000): Promise<SseEvent[]> {
    const deadline = Date.now() + timeoutMs;
    const events: SseEvent[] = [];
    for (;;) {
      const event = await this.next(Math.max(1, deadline - Date.now()));
      if (!event) return events;
      events.push(event);
      if (stop(event)) return events;
    }
  }

  /** True once the server ended the stream and every event was read. */
  get done(): boolean {
    return this.ended && this.queue.length === 0;
  }

  /** Drops the connection (the client side of a disconnect). */
  close(): void {
    this.abort.abort();
    this.reader.cancel().catch(() => {});
  }
}
