import { createInterface } from 'node:readline';

/**
 * Asks questions on stdin/stdout. Answers may also be piped in, one per line: lines are buffered,
 * so a scripted answer is never lost to a prompt that was not yet shown.
 */
export class Prompter {
  private readonly rl = createInterface({ input: process.stdin, terminal: false });
  private readonly lines = this.rl[Symbol.asyncIterator]();

  async ask(question: string, fallback = ''): Promise<string> {
    process.stdout.write(`${question}${fallback ? ` [${fallback}]` : ''}: `);
    const next = await this.lines.next();
    if (next.done) {
      process.stdout.write('\n');
      return fallback;
    }
    if (!process.stdin.isTTY) process.stdout.write('\n');
    return next.value.trim() || fallback;
  }

  async confirm(question: string, fallback: boolean): Promise<boolean> {
    for (;;) {
      const answer = (await this.ask(`${question} (y/n)`, fallback ? 'y' : 'n')).toLowerCase();
      if (['y', 'yes'].includes(answer)) return true;
      if (['n', 'no'].includes(answer)) return false;
      process.stdout.write('Please answer y or n.\n');
    }
  }

  close(): void {
    this.rl.close();
  }
}

export async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
