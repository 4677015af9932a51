/**
 * What the console's write-back actions share (issue #10): an action panel with **Preview** (the
 * action sent with `dryRun: true`, showing the directory steps it would make) and **Apply**, and
 * the result of either in words (written to the directory, waiting in the outbox, refused, only
 * dirbridge changed) with its steps. Profile saves and disable/enable answer with the
 * `Dirbridge-Write-Back` header instead; `headerOutcomes` reads it and `HeaderOutcome` says it.
 */
import type { ComponentChildren, JSX } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError, api, messageOf } from './api.ts';
import { Badge, Link, type Tone, useAsync } from './components.tsx';
import type { SettingsDocument, WriteActionResult, WriteBackSettings, WriteOutcome, WriteStepReport } from './types.ts';

/** The response header that says how a change's directory side went (`src/http/routes/admin-data.ts`). */
export const WRITE_BACK_HEADER = 'dirbridge-write-back';

const OUTCOMES: readonly WriteOutcome[] = ['written', 'pending', 'failed', 'local', 'planned', 'unchanged'];

/** The outcomes a `Dirbridge-Write-Back` header lists (`written, pending`); empty without one. */
export function headerOutcomes(headers: Headers): WriteOutcome[] {
  const value = headers.get(WRITE_BACK_HEADER) ?? '';
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item): item is WriteOutcome => (OUTCOMES as readonly string[]).includes(item));
}

/** The outcome that matters most of several: a failure, then a wait, then a write. */
function worstOf(outcomes: readonly WriteOutcome[]): WriteOutcome {
  for (const outcome of ['failed', 'pending', 'written', 'local', 'planned', 'unchanged'] as const) if (outcomes.includes(outcome)) return outcome;
  return 'unchanged';
}

const TONES: Record<WriteOutcome, 'success' | 'warn' | 'error' | 'info'> = {
  written: 'success',
  pending: 'warn',
  failed: 'error',
  local: 'info',
  planned: 'info',
  unchanged: 'info',
};

/** An outcome in words; a pending one links to the Write-back page, where its outbox rows are. */
function OutcomeWords(props: { outcome: WriteOutcome }): JSX.Element {
  switch (props.outcome) {
    case 'written':
      return <strong>Written to the directory.</strong>;
    case 'pending':
      return (
        <>
          <strong>Waiting in the outbox:</strong> the directory did not take it yet; it is retried. See <Link href="/writeback">Write-back</Link>.
        </>
      );
    case 'failed':
      return (
        <>
          <strong>Refused by the directory.</strong> The write stays in the outbox as failed until retried on the <Link href="/writeback">Write-back</Link>{' '}
          page.
        </>
      );
    case 'local':
      return <strong>Only dirbridge changed; nothing is written to the directory.</strong>;
    case 'planned':
      return <strong>Preview: nothing was changed.</strong>;
    case 'unchanged':
      return <strong>Nothing to write to the directory.</strong>;
  }
}

const STEP_TONES: Record<WriteStepReport['status'], Tone> = { planned: 'info', done: 'good', pending: 'warn', failed: 'bad', not_sent: 'neutral' };

/** The directory steps of an action, with each one's status and error. */
export function StepsTable(props: { steps: WriteStepReport[] }): JSX.Element {
  if (props.steps.length === 0) return <p class="muted small">No directory steps.</p>;
  return (
    <div class="table-wrap">
      <table class="table" data-testid="write-steps">
        <thead>
          <tr>
            <th>Step</th>
            <th>Entry</th>
            <th>Status</th>
          </tr>
        </thead>
        <tbody>
          {props.steps.map((step, index) => (
            <tr key={index} data-testid="write-step" data-kind={step.kind} data-status={step.status}>
              <td>
                <code>{step.kind}</code>
                <div>{step.subject}</div>
              </td>
              <td>
                <code class="wrap">{step.dn}</code>
                <div class="muted small">{step.reason}</div>
              </td>
              <td>
                <Badge tone={STEP_TONES[step.status]}>{step.status.replace('_', ' ')}</Badge>
                {step.error === undefined ? null : (
                  <div class="small" style={{ overflowWrap: 'anywhere' }} title={step.error.code}>
                    {step.error.message}
                  </div>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** An action's result: the outcome in words, the server's sentence, the steps and any conflicts. */
export function WriteResult(props: { result: WriteActionResult; children?: ComponentChildren }): JSX.Element {
  const { result } = props;
  return (
    <div class="action-result" data-testid="write-result" data-outcome={result.outcome} data-dry-run={String(result.isDryRun)}>
      <div class={`alert alert-${TONES[result.outcome]}`} role={result.outcome === 'failed' ? 'alert' : 'status'}>
        <OutcomeWords outcome={result.outcome} /> <span data-testid="write-message">{result.message}</span>
        {props.children}
      </div>
      {result.isDryRun && result.steps.length > 0 ? <p class="muted small">Apply would make these directory steps:</p> : null}
      <StepsTable steps={result.steps} />
      {result.conflicts.length === 0 ? null : (
        <ul class="small" data-testid="write-conflicts">
          {result.conflicts.map((conflict, index) => (
            <li key={index}>
              Conflict on {conflict.subject}'s {conflict.field}: {conflict.winner} won (directory: {conflict.directoryValue ?? '(empty)'}, dirbridge:{' '}
              {conflict.dirbridgeValue ?? '(empty)'}).
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** A refusal of the API (e.g. 422 for a password the directory's policy refuses) in the result's place. */
export function RefusedResult(props: { error: unknown }): JSX.Element {
  const fields = props.error instanceof ApiError && props.error.fields.length > 0 ? ` (${props.error.fields.join(', ')})` : '';
  return (
    <div class="action-result" data-testid="write-result" data-outcome="refused">
      <div class="alert alert-error" role="alert">
        <strong>Refused:</strong> <span data-testid="write-message">{`${messageOf(props.error)}${fields}`}</span>
      </div>
    </div>
  );
}

/** How a saved change's directory side went, from its `Dirbridge-Write-Back` header (several outcomes: the one that matters most, then all). */
export function HeaderOutcome(props: { outcomes: WriteOutcome[] }): JSX.Element | null {
  if (props.outcomes.length === 0) return null;
  const outcome = worstOf(props.outcomes);
  return (
    <div class={`alert alert-${TONES[outcome]}`} role="status" data-testid="write-back-outcome" data-outcome={props.outcomes.join(', ')}>
      Directory: <OutcomeWords outcome={outcome} />
      {props.outcomes.length > 1 ? <span class="muted small"> ({props.outcomes.join(', ')})</span> : null}
    </div>
  );
}

/** Whether write-back writes to the directory now: on, in writable mode. */
export function isWritable(writeBack: WriteBackSettings | undefined): boolean {
  return writeBack?.enabled === true && writeBack.mode === 'writable';
}

/** `settings.writeBack` from a settings document, if it has one. */
export function writeBackOf(settings: Record<string, unknown> | undefined): WriteBackSettings | undefined {
  const value = settings?.['writeBack'];
  return typeof value === 'object' && value !== null ? (value as WriteBackSettings) : undefined;
}

/** The state of one action panel: the last preview or result, or the refusal, and what runs. */
export interface WriteActionState<R extends WriteActionResult> {
  busy: 'preview' | 'apply' | null;
  shown: { kind: 'result'; result: R } | { kind: 'refused'; error: unknown } | null;
  run: (isDryRun: boolean) => Promise<void>;
  clear: () => void;
}

/**
 * Runs one action: `send(isDryRun)` calls the API; `onApplied` follows a real (not dry) run that
 * the API answered, whatever its outcome (the store may have changed even when the directory refused).
 */
export function useWriteAction<R extends WriteActionResult>(send: (isDryRun: boolean) => Promise<R>, onApplied?: (result: R) => void): WriteActionState<R> {
  const [busy, setBusy] = useState<'preview' | 'apply' | null>(null);
  const [shown, setShown] = useState<WriteActionState<R>['shown']>(null);
  return {
    busy,
    shown,
    clear: () => setShown(null),
    run: async (isDryRun) => {
      setBusy(isDryRun ? 'preview' : 'apply');
      setShown(null);
      try {
        const result = await send(isDryRun);
        setShown({ kind: 'result', result });
        if (!isDryRun) onApplied?.(result);
      } catch (error) {
        setShown({ kind: 'refused', error });
      } finally {
        setBusy(null);
      }
    },
  };
}

/**
 * An action's form: its inputs, what it will do, **Preview** (dry run) and **Apply**, and below
 * them the preview or the result. `testId` names the panel; its buttons are `<testId>-preview`,
 * `<testId>-apply` and `<testId>-cancel`.
 */
export function ActionPanel<R extends WriteActionResult>(props: {
  title: string;
  testId: string;
  state: WriteActionState<R>;
  applyLabel: string;
  isDanger?: boolean;
  canSubmit: boolean;
  onCancel: () => void;
  /** What Apply will do, in words (e.g. the deletion policy). */
  note?: ComponentChildren;
  /** Below the result (e.g. a link to what the action created). */
  after?: (result: R) => ComponentChildren;
  children?: ComponentChildren;
}): JSX.Element {
  const { state } = props;
  const isBusy = state.busy !== null;
  return (
    <section class="action-panel" data-testid={props.testId}>
      <h3>{props.title}</h3>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (props.canSubmit && !isBusy) void state.run(false);
        }}
      >
        {props.children}
        {props.note === undefined ? null : <div class="alert alert-info small">{props.note}</div>}
        <div class="form-actions">
          <button
            type="button"
            class="btn"
            disabled={!props.canSubmit || isBusy}
            onClick={() => void state.run(true)}
            data-testid={`${props.testId}-preview`}
            title="Send it as a dry run: see the directory steps, change nothing"
          >
            {state.busy === 'preview' ? 'Previewing…' : 'Preview'}
          </button>
          <button
            type="submit"
            class={`btn ${props.isDanger ? 'btn-danger' : 'btn-primary'}`}
            disabled={!props.canSubmit || isBusy}
            data-testid={`${props.testId}-apply`}
          >
            {state.busy === 'apply' ? 'Applying…' : props.applyLabel}
          </button>
          <button type="button" class="btn btn-ghost" disabled={isBusy} onClick={props.onCancel} data-testid={`${props.testId}-cancel`}>
            Close
          </button>
        </div>
      </form>
      {state.shown === null ? null : state.shown.kind === 'refused' ? (
        <RefusedResult error={state.shown.error} />
      ) : (
        <WriteResult result={state.shown.result}>{props.after?.(state.shown.result)}</WriteResult>
      )}
    </section>
  );
}

/** A labelled input of an action form. */
export function ActionField(props: {
  label: string;
  name: string;
  value: string;
  onInput: (value: string) => void;
  type?: 'text' | 'password' | 'email';
  placeholder?: string;
  autoComplete?: string;
  hint?: string;
}): JSX.Element {
  const id = `action-${props.name}`;
  return (
    <div class="field">
      <label for={id} class="field-label">
        {props.label}
      </label>
      <input
        id={id}
        name={props.name}
        type={props.type ?? 'text'}
        value={props.value}
        placeholder={props.placeholder}
        autoComplete={props.autoComplete ?? 'off'}
        onInput={(event) => props.onInput(event.currentTarget.value)}
      />
      {props.hint === undefined ? null : <p class="field-hint">{props.hint}</p>}
    </div>
  );
}

/** `settings.writeBack` in force (`GET /api/v1/admin/settings`), to say what an action will do; undefined until read. */
export function useWriteBackSettings(): WriteBackSettings | undefined {
  const settings = useAsync(() => api<SettingsDocument>('GET', '/api/v1/admin/settings'), []);
  return writeBackOf(settings.data?.settings);
}
