/**
 * The write-back (issue #10): directory writes still in the outbox (pending, or failed until
 * retried) and the conflicts, fields that both dirbridge and the directory changed, with whose
 * value won. Failed writes can be retried (one, or all); an open conflict can be kept (the
 * winner's value stays) or restored (both sides take the other value).
 */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, messageOf, query } from '../api.ts';
import { Badge, Card, Empty, ErrorBox, formatDate, formatNumber, Loading, PageHeader, Pager, useAsync } from '../components.tsx';
import type { ConflictPage, OutboxPage, OutboxRow, RetryResult, WriteBackConflict } from '../types.ts';

const PAGE = 50;

/** A value list as one line; an empty list is said so. */
function valuesText(values: readonly string[]): string {
  return values.length === 0 ? '(empty)' : values.join(', ');
}

/** What a row's LDAP write does, in a line. */
function changeText(change: OutboxRow['change']): string {
  switch (change.kind) {
    case 'add':
      return `add entry (${Object.keys(change.attributes).join(', ')})`;
    case 'delete':
      return 'delete entry';
    case 'modifyDn':
      return `rename to ${change.newRdn}${change.newParent === undefined ? '' : ` under ${change.newParent}`}`;
    case 'modify':
      return change.changes
        .map((item) =>
          item.kind === 'set'
            ? `${item.attribute}: ${valuesText(item.from)} → ${valuesText(item.to)}`
            : `${item.kind === 'addValues' ? 'add' : 'remove'} ${item.attribute} ${valuesText(item.values)}`,
        )
        .join('; ');
  }
}

function OutboxStatus(props: { row: OutboxRow }): JSX.Element {
  return props.row.status === 'failed' ? <Badge tone="bad">failed</Badge> : <Badge tone="info">pending</Badge>;
}

/** What the page's actions share: a running action's name, and how to run one (which then reloads both lists). */
interface Actions {
  busy: string | null;
  run: (name: string, label: string, work: () => Promise<Outcome>) => Promise<void>;
  generation: number;
}

/** What an action did: a sentence, and whether all went well. */
interface Outcome {
  tone: 'success' | 'warn';
  text: string;
}

/** What a retry did, in a sentence; a warning when something is still not delivered. */
function retryOutcome(result: RetryResult): Outcome {
  const { run } = result;
  const delivered =
    run.skipped === 'not_writable'
      ? 'nothing was delivered: write-back is not on in writable mode'
      : run.skipped === 'held_elsewhere'
        ? 'another instance is delivering them'
        : `delivered ${run.done}, retrying later ${run.retrying}, failed ${run.failed}, conflicts ${run.conflicts}`;
  const isClean = run.skipped === undefined && run.failed === 0 && run.retrying === 0;
  return { tone: isClean ? 'success' : 'warn', text: `${formatNumber(result.requeued)} failed write(s) put back in the outbox; ${delivered}.` };
}

function OutboxCard(props: { actions: Actions }): JSX.Element {
  const { actions } = props;
  const [offset, setOffset] = useState(0);
  const outbox = useAsync(() => api<OutboxPage>('GET', `/api/v1/admin/writeback/outbox${query({ limit: PAGE, offset })}`), [offset, actions.generation]);
  const retry = (ids: string[] | undefined) =>
    actions.run(ids === undefined ? 'retry-all' : `retry-${ids.join(',')}`, 'Retry', async () =>
      retryOutcome(await api<RetryResult>('POST', '/api/v1/admin/writeback/retry', ids === undefined ? {} : { ids })),
    );
  // Failed rows may be on another page: offered whenever anything is open (a retry with none failed puts back nothing).
  const isEmpty = (outbox.data?.total ?? 0) === 0;
  return (
    <Card
      title="Outbox"
      testId="writeback-outbox"
      actions={
        <span class="button-row">
          <button
            type="button"
            class="btn btn-small"
            disabled={actions.busy !== null || isEmpty}
            onClick={() => void retry(undefined)}
            data-testid="retry-all"
            title="Put every failed write back in the outbox and deliver now"
          >
            {actions.busy === 'retry-all' ? 'Retrying…' : 'Retry all failed'}
          </button>
          <button type="button" class="btn btn-small" onClick={outbox.reload}>
            Refresh
          </button>
        </span>
      }
    >
      <p class="muted small">
        Directory writes not delivered yet, in the order they will be made: pending ones wait for their next attempt; failed ones wait for an administrator.
      </p>
      <ErrorBox error={outbox.error} />
      {outbox.data === undefined ? (
        outbox.error === undefined ? (
          <Loading />
        ) : null
      ) : outbox.data.rows.length === 0 ? (
        <Empty>Nothing waits: every write has reached the directory.</Empty>
      ) : (
        <>
          <div class="table-wrap">
            <table class="table" data-testid="outbox-table">
              <thead>
                <tr>
                  <th>Subject</th>
                  <th>Step</th>
                  <th>DN</th>
                  <th>Status</th>
                  <th class="num">Attempts</th>
                  <th>Next attempt</th>
                  <th>Last error</th>
                </tr>
              </thead>
              <tbody>
                {outbox.data.rows.map((row) => (
                  <tr key={row.id} data-testid="outbox-row" data-id={row.id} data-status={row.status}>
                    <td>
                      <strong>{row.subject}</strong>
                      <div class="muted small">{row.objectKind}</div>
                    </td>
                    <td>
                      <code>{row.stepKind}</code>
                    </td>
                    <td>
                      <code class="wrap">{row.change.dn}</code>
                      <div class="muted small">{changeText(row.change)}</div>
                    </td>
                    <td>
                      <OutboxStatus row={row} />
                      {row.status === 'failed' ? (
                        <div>
                          <button
                            type="button"
                            class="btn btn-small"
                            disabled={actions.busy !== null}
                            onClick={() => void retry([row.id])}
                            data-testid="retry-row"
                          >
                            {actions.busy === `retry-${row.id}` ? 'Retrying…' : 'Retry'}
                          </button>
                        </div>
                      ) : null}
                    </td>
                    <td class="num">{formatNumber(row.attempts)}</td>
                    <td class="nowrap small">{row.status === 'failed' ? <span class="muted">after a retry</span> : formatDate(row.nextAttemptAt)}</td>
                    <td class="small" style={{ overflowWrap: 'anywhere', minWidth: '14rem' }}>
                      {row.lastError === null ? <span class="muted">—</span> : <span title={row.lastErrorCode ?? undefined}>{row.lastError}</span>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager offset={offset} limit={PAGE} total={outbox.data.total} onChange={setOffset} />
        </>
      )}
    </Card>
  );
}

function Resolution(props: { conflict: WriteBackConflict }): JSX.Element {
  const { conflict } = props;
  if (conflict.resolution === null) return <Badge tone="warn">open</Badge>;
  return (
    <span>
      <Badge tone="good">{conflict.resolution === 'keep' ? 'kept' : 'restored'}</Badge>
      <div class="muted small">
        {conflict.resolvedBy ?? ''} {formatDate(conflict.resolvedAt)}
      </div>
    </span>
  );
}

function ConflictsCard(props: { actions: Actions }): JSX.Element {
  const { actions } = props;
  const [offset, setOffset] = useState(0);
  const [isOpenOnly, setOpenOnly] = useState(true);
  const conflicts = useAsync(
    () => api<ConflictPage>('GET', `/api/v1/admin/writeback/conflicts${query({ open: isOpenOnly ? 'true' : undefined, limit: PAGE, offset })}`),
    [isOpenOnly, offset, actions.generation],
  );
  const resolve = (conflict: WriteBackConflict, resolution: 'keep' | 'restore') =>
    actions.run(`${resolution}-${conflict.id}`, resolution === 'keep' ? 'Keep' : 'Restore', async () => {
      const resolved = await api<WriteBackConflict>('POST', `/api/v1/admin/writeback/conflicts/${encodeURIComponent(conflict.id)}/resolve`, { resolution });
      const kept = resolved.winner === 'directory' ? 'the directory' : 'dirbridge';
      const text =
        resolution === 'keep'
          ? `${resolved.subject}'s ${resolved.field}: kept ${kept}'s value.`
          : `${resolved.subject}'s ${resolved.field}: restored ${valuesText(resolved.winner === 'directory' ? resolved.dirbridgeValue : resolved.directoryValue)} on both sides.`;
      return { tone: 'success', text };
    });
  return (
    <Card
      title="Conflicts"
      testId="writeback-conflicts"
      actions={
        <label class="checkbox">
          <input
            type="checkbox"
            checked={isOpenOnly}
            data-testid="conflicts-open-only"
            onChange={(event) => {
              setOpenOnly(event.currentTarget.checked);
              setOffset(0);
            }}
          />
          Open only
        </label>
      }
    >
      <p class="muted small">
        A field both dirbridge and the directory changed since they last agreed. The winner follows the Authority setting; the other value is kept here.
      </p>
      <ErrorBox error={conflicts.error} />
      {conflicts.data === undefined ? (
        conflicts.error === undefined ? (
          <Loading />
        ) : null
      ) : conflicts.data.rows.length === 0 ? (
        <Empty>{isOpenOnly ? 'No open conflicts.' : 'No conflicts.'}</Empty>
      ) : (
        <>
          <div class="table-wrap">
            <table class="table" data-testid="conflicts-table">
              <thead>
                <tr>
                  <th>Subject</th>
                  <th>Field</th>
                  <th>Winner</th>
                  <th>Directory value</th>
                  <th>dirbridge value</th>
                  <th>When</th>
                  <th>Resolution</th>
                </tr>
              </thead>
              <tbody>
                {conflicts.data.rows.map((conflict) => (
                  <tr key={conflict.id} data-testid="conflict-row" data-id={conflict.id}>
                    <td>
                      <strong>{conflict.subject}</strong>
                      <div class="muted small">{conflict.objectKind}</div>
                    </td>
                    <td>
                      <code>{conflict.field}</code>
                    </td>
                    <td>
                      <Badge tone="info">{conflict.winner}</Badge>
                    </td>
                    <td data-testid="conflict-directory-value">{valuesText(conflict.directoryValue)}</td>
                    <td data-testid="conflict-dirbridge-value">{valuesText(conflict.dirbridgeValue)}</td>
                    <td class="nowrap small">{formatDate(conflict.createdAt)}</td>
                    <td>
                      {conflict.resolution === null ? (
                        <span class="button-row">
                          <button
                            type="button"
                            class="btn btn-small"
                            disabled={actions.busy !== null}
                            onClick={() => void resolve(conflict, 'keep')}
                            data-testid="conflict-keep"
                            title={`Accept the ${conflict.winner}'s value; nothing is written`}
                          >
                            Keep
                          </button>
                          <button
                            type="button"
                            class="btn btn-small"
                            disabled={actions.busy !== null || conflict.objectKind !== 'user'}
                            onClick={() => void resolve(conflict, 'restore')}
                            data-testid="conflict-restore"
                            title={`Give both sides the ${conflict.winner === 'directory' ? 'dirbridge' : 'directory'} value: dirbridge takes it and it is written to the directory now`}
                          >
                            Restore
                          </button>
                        </span>
                      ) : (
                        <Resolution conflict={conflict} />
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager offset={offset} limit={PAGE} total={conflicts.data.total} onChange={setOffset} />
        </>
      )}
    </Card>
  );
}

/** The Write-back page. */
export function WriteBackPage(props: { isEnabled: boolean | undefined }): JSX.Element {
  const [busy, setBusy] = useState<string | null>(null);
  const [generation, setGeneration] = useState(0);
  const [message, setMessage] = useState<{ tone: 'success' | 'warn' | 'error'; text: string } | null>(null);
  const actions: Actions = {
    busy,
    generation,
    run: async (name, label, work) => {
      setBusy(name);
      setMessage(null);
      try {
        setMessage(await work());
      } catch (error) {
        setMessage({ tone: 'error', text: `${label} failed: ${messageOf(error)}` });
      } finally {
        setBusy(null);
        setGeneration((value) => value + 1);
      }
    },
  };
  return (
    <div>
      <PageHeader title="Write-back" subtitle="Changes dirbridge writes to the directory: what is still on its way, and the values both sides changed." />
      {props.isEnabled === false ? (
        <div class="alert alert-warn" data-testid="writeback-off">
          Write-back is switched off (Settings, Write-back): nothing new is written to the directory. What is listed here was queued while it was on.
        </div>
      ) : null}
      {message === null ? null : (
        <div class={`alert alert-${message.tone}`} role="status" data-testid="writeback-message">
          {message.text}
        </div>
      )}
      <OutboxCard actions={actions} />
      <ConflictsCard actions={actions} />
    </div>
  );
}
