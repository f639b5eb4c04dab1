/** Asks whoever runs the task (the agent, through its Peer) for the decision on a plan; rejects when `signal` aborts. */
export type AskConfirmation = (signal: AbortSignal) => Promise<'confirmed' | 'rejected'>;

/**
 * Waits for confirm or reject of a plan. The wait is part of the task: a stop ends it
 * (`stopped`), and it counts toward the task's duration limit (`timeout` at the deadline).
 */
export async function awaitDecision(ask: AskConfirmation | undefined, stop: AbortSignal, deadline?: number): Promise<'confirmed' | 'rejected' | 'stopped' | 'timeout'> {
  if (!ask) throw new Error('this executor cannot wait for a plan confirmation; run the template with auto_approve');
  if (stop.aborted) return 'stopped';
  const abort = new AbortController();
  let timedOut = false;
  const onStop = () => abort.abort();
  stop.addEventListener('abort', onStop, { once: true });
  const timer = deadline === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    abort.abort();
  }, Math.max(0, deadline - Date.now()));
  try {
    return await ask(abort.signal);
  } catch (err) {
    if (timedOut) return 'timeout';
    if (stop.aborted) return 'stopped';
    throw err;
  } finally {
    clearTimeout(timer);
    stop.removeEventListener('abort', onStop);
  }
}
