/**
 * The bar a Terraform/OpenTofu task shows while its plan waits (`waiting_confirmation`): the plan
 * (the output from the `plan` command on) and Confirm / Reject. Confirm applies exactly that
 * plan; Reject ends the task `rejected` with nothing applied.
 */
import { useState } from 'preact/hooks';
import { api } from '../api';
import type { LogLine } from '../log-view';
import { notify } from '../ui';

/** The plan's lines: from the last `$ terraform|tofu … plan` line to the end. */
export function planLines(lines: LogLine[]): string[] {
  let start = -1;
  for (let i = lines.length - 1; i >= 0 && start < 0; i--) if (/^\$ (terraform|tofu) .*\bplan\b/.test(lines[i]!.text)) start = i;
  return lines.slice(start < 0 ? 0 : start + 1).map((l) => l.text).filter((text) => !text.startsWith('[forge] '));
}

export function PlanConfirmBar({ base, taskId, lines, onDecided }: { base: string; taskId: number; lines: LogLine[]; onDecided: () => Promise<void> }) {
  const [busy, setBusy] = useState<'' | 'confirm' | 'reject'>('');
  const decide = async (action: 'confirm' | 'reject') => {
    setBusy(action);
    try {
      await api('POST', `${base}/${action}`);
      notify(action === 'confirm' ? `Task #${taskId}: plan confirmed, applying it` : `Task #${taskId}: plan rejected, nothing applied`);
      await onDecided();
    } catch (err) {
      notify(`Could not ${action} task #${taskId}: ${(err as Error).message}`, 'error');
    } finally {
      setBusy('');
    }
  };
  const plan = planLines(lines);
  return (
    <section class="plan-confirm" aria-labelledby="plan-title" data-testid="plan-confirm">
      <div class="plan-confirm-head">
        <h2 id="plan-title">The plan waits for your confirmation</h2>
        <div class="head-actions">
          <button type="button" class="danger" disabled={busy !== ''} onClick={() => void decide('reject')}>{busy === 'reject' ? 'Rejecting…' : 'Reject'}</button>
          <button type="button" class="primary" disabled={busy !== ''} onClick={() => void decide('confirm')}>{busy === 'confirm' ? 'Confirming…' : 'Confirm and apply'}</button>
        </div>
      </div>
      <p class="hint">Confirm applies exactly this plan. Reject ends the task with nothing applied. Stop ends it too.</p>
      <pre class="plan-text" tabIndex={0} aria-label="The plan" data-testid="plan-text">{plan.length ? plan.join('\n') : 'The plan is in the output below.'}</pre>
    </section>
  );
}
