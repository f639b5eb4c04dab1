/** The task queues in Forge's words: one per project and runner tag; runners claim their jobs. */
import { endpoints } from '../api';
import { useLiveEvents, useThrottled } from '../events';
import { Empty, ErrorBox, Loading, useAsync } from '../ui';

export function QueuesPage() {
  const list = useAsync(() => endpoints.queues(), []);
  const refresh = useThrottled(() => void list.reload(), 1000);
  useLiveEvents((e) => {
    if (e.type === 'task' || e.type === 'runner') refresh();
  });
  const tasks = list.data?.queues.filter((q) => q.kind === 'tasks') ?? [];
  const completions = list.data?.queues.find((q) => q.kind === 'completions');
  return (
    <section aria-labelledby="queues-title">
      <div class="page-head">
        <h1 id="queues-title">Queues</h1>
        <a class="button" href="/admin/queues">Raw queue inspector (Bull Board)</a>
      </div>
      <p class="muted">
        Each project has one queue per runner tag. A task waits in its queue until {list.data?.remote_runners === false ? 'the server\'s local worker' : 'a runner allowed to serve it'} claims it.
      </p>
      <ErrorBox error={list.error} title="Could not load the queues" />
      {!list.data && !list.error && <Loading what="Loading queues" />}
      {list.data && tasks.length === 0 && <Empty title="No task queues yet.">A queue appears when a template of a project first runs.</Empty>}
      {tasks.length > 0 && (
        <div class="table-wrap">
          <table class="stack">
            <thead>
              <tr><th scope="col">Queue</th><th scope="col">Waiting</th><th scope="col">Claimed</th><th scope="col">Done (kept)</th><th scope="col">Failed</th><th scope="col">Runners online</th><th scope="col">Next task</th></tr>
            </thead>
            <tbody>
              {tasks.map((q) => (
                <tr key={q.name} data-queue={q.name}>
                  <td data-label="Queue"><a href={`/project/${q.project_id}/tasks?status=waiting`}>{q.project_name}</a> · {q.tag ? <span class="tag">{q.tag}</span> : <span class="muted">untagged</span>}</td>
                  <td data-label="Waiting" class="num">{q.waiting}</td>
                  <td data-label="Claimed" class="num">{q.claimed}</td>
                  <td data-label="Done (kept)" class="num">{q.completed}</td>
                  <td data-label="Failed" class="num">{q.failed}</td>
                  <td data-label="Runners online" class="num">{list.data!.remote_runners ? q.runners_online : <span class="muted">local worker</span>}</td>
                  <td data-label="Next task" class={q.reason ? 'warn-text' : ''}>{q.reason || 'starts when a slot is free'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {completions && (
        <p class="muted small" data-testid="completions">Results queue: {completions.waiting} waiting for the reconciler, {completions.failed} failed.</p>
      )}
    </section>
  );
}
