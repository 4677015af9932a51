/**
 * The seeds' actions at the top of the settings page: Test Connection, Test LDAP Search, Sync Now
 * (with live progress) and Dry run (the plan, step by step, with reasons). While the form holds
 * unsaved changes, Test Connection and Test LDAP Search test those values (sent with the request,
 * never saved); Dry run and Sync Now always run on the saved settings.
 */
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, messageOf } from '../api.ts';
import { Badge, Card, Details, describeCounts, Empty, formatDuration, formatNumber, Link, StatusBadge } from '../components.tsx';
import type { Run, RunProgress, StepSummary, SyncSummary, TestConnectionReport, WriteAccess } from '../types.ts';

type TestSearchReport =
  | {
      status: 'found';
      entry: { dn: string; attributes: Record<string, string[]> };
      user: {
        externalId: string;
        dn: string;
        username: string;
        email: string | null;
        firstName: string;
        lastName: string;
        displayName: string | null;
        directoryState: string;
        directoryStateReason?: string;
      };
      groups: Array<{ dn: string; name: string; externalId: string; isNested: boolean }>;
      warnings: string[];
    }
  | { status: 'not_found'; username: string; warnings: string[] };

/** Which settings a test ran on: those saved and in force, or the form's unsaved values. */
type Tested = 'saved' | 'unsaved';

type ActionState =
  | { kind: 'idle' }
  | { kind: 'busy'; label: string }
  | { kind: 'error'; label: string; error: unknown; tested?: Tested }
  | { kind: 'connection'; report: TestConnectionReport; tested: Tested }
  | { kind: 'search-form' }
  | { kind: 'search'; report: TestSearchReport; tested: Tested }
  | { kind: 'sync'; runId: string | null; run: Run | null; lastProgress: RunProgress | null; summary: SyncSummary | null; error: unknown }
  | { kind: 'dry-run'; summary: SyncSummary };

const PHASES: Array<{ phase: string; label: string; from: number; to: number }> = [
  { phase: 'connecting', label: 'Connecting', from: 0, to: 5 },
  { phase: 'reading_users', label: 'Reading users', from: 5, to: 45 },
  { phase: 'reading_groups', label: 'Reading groups', from: 45, to: 60 },
  { phase: 'planning', label: 'Planning', from: 60, to: 65 },
  { phase: 'applying', label: 'Applying', from: 65, to: 95 },
  { phase: 'finishing', label: 'Finishing', from: 95, to: 100 },
];

/** How far a run is, 0–100, from its phase (and applied/applyTotal while applying). */
export function progressPercent(status: string, progress: RunProgress | null | undefined): number {
  if (status !== 'running') return 100;
  if (progress === null || progress === undefined) return 2;
  const phase = PHASES.find((candidate) => candidate.phase === progress.phase);
  if (phase === undefined) return 50;
  if (phase.phase === 'applying' && progress.applyTotal > 0)
    return phase.from + ((phase.to - phase.from) * Math.min(progress.applied, progress.applyTotal)) / progress.applyTotal;
  return phase.from;
}

function isSummary(value: unknown): value is SyncSummary {
  return typeof value === 'object' && value !== null && 'steps' in value && 'status' in value;
}

function summaryCounts(summary: SyncSummary): Record<string, number> {
  const flat: Record<string, number> = {};
  const groups: Record<string, Record<string, number>> = {
    users: summary.users,
    groups: summary.groups,
    memberships: summary.memberships,
    roles: summary.roles,
    channels: summary.channels,
    teams: summary.teams,
    attributes: summary.attributes,
    sessions: summary.sessions,
  };
  for (const [group, values] of Object.entries(groups)) for (const [name, value] of Object.entries(values)) flat[`${group}.${name}`] = value;
  return flat;
}

/** The settings form's unsaved values, for the tests to run on (the settings page passes them). */
export interface UnsavedSettings {
  /** How many fields differ from the saved settings; 0: the tests run on the saved settings. */
  count: number;
  /** The form's values as a save would send them, or null when one cannot be converted (the form marks it). */
  build: () => Record<string, unknown> | null;
  /** The server refused the values (`settings.invalid`): the form marks the fields. */
  onInvalid: (error: ApiError) => void;
}

/** The action buttons and the panel that shows the latest action's result. */
export function DirectoryActions(props: { unsaved?: UnsavedSettings } = {}): JSX.Element {
  const { unsaved } = props;
  const isTestingUnsaved = unsaved !== undefined && unsaved.count > 0;
  const [state, setState] = useState<ActionState>({ kind: 'idle' });
  const [username, setUsername] = useState('');
  const polling = useRef<number | undefined>(undefined);
  const isBusy =
    state.kind === 'busy' ||
    (state.kind === 'sync' && (state.run === null || state.run.status === 'running') && state.summary === null && state.error === undefined);

  useEffect(() => () => window.clearTimeout(polling.current), []);

  /**
   * What the tests send besides their own fields: the form's unsaved values, if any. Null when
   * the form holds a value that cannot be converted (it is marked there, nothing is sent).
   */
  const testedSettings = (label: string): { body: { settings?: Record<string, unknown> }; tested: Tested } | null => {
    if (!isTestingUnsaved) return { body: {}, tested: 'saved' };
    const settings = unsaved.build();
    if (settings === null) {
      setState({ kind: 'error', label, error: new Error('some unsaved values are not valid: fix the marked fields, then test again'), tested: 'unsaved' });
      return null;
    }
    return { body: { settings }, tested: 'unsaved' };
  };

  const failed = (label: string, error: unknown, tested: Tested) => {
    if (tested === 'unsaved' && error instanceof ApiError && error.code === 'settings.invalid') unsaved?.onInvalid(error);
    setState({ kind: 'error', label, error, tested });
  };

  const testConnection = async () => {
    const label = 'Test Connection failed';
    const request = testedSettings(label);
    if (request === null) return;
    setState({ kind: 'busy', label: request.tested === 'unsaved' ? 'Testing the connection with your unsaved changes…' : 'Testing the connection…' });
    try {
      setState({
        kind: 'connection',
        report: await api<TestConnectionReport>('POST', '/api/v1/admin/actions/test-connection', request.body),
        tested: request.tested,
      });
    } catch (error) {
      failed(label, error, request.tested);
    }
  };

  const testSearch = async (event: Event) => {
    event.preventDefault();
    if (username.trim() === '') return;
    const label = 'Test LDAP Search failed';
    const request = testedSettings(label);
    if (request === null) return;
    setState({ kind: 'busy', label: `Searching for ${username.trim()}${request.tested === 'unsaved' ? ' with your unsaved changes' : ''}…` });
    try {
      setState({
        kind: 'search',
        report: await api<TestSearchReport>('POST', '/api/v1/admin/actions/test-search', { username: username.trim(), ...request.body }),
        tested: request.tested,
      });
    } catch (error) {
      failed(label, error, request.tested);
    }
  };

  const poll = (runId: string) => {
    window.clearTimeout(polling.current);
    const tick = async () => {
      try {
        const run = await api<Run>('GET', `/api/v1/admin/runs/${encodeURIComponent(runId)}`);
        setState((current) =>
          current.kind === 'sync' && current.runId === runId ? { ...current, run, lastProgress: run.progress ?? current.lastProgress } : current,
        );
        if (run.status === 'running') polling.current = window.setTimeout(() => void tick(), 400);
      } catch (error) {
        setState((current) => (current.kind === 'sync' && current.runId === runId ? { ...current, error } : current));
      }
    };
    void tick();
  };

  const syncNow = async () => {
    setState({ kind: 'sync', runId: null, run: null, lastProgress: null, summary: null, error: undefined });
    try {
      const answer = await api<{ runId: string } | SyncSummary>('POST', '/api/v1/admin/actions/sync', { dryRun: false, wait: false });
      if (isSummary(answer)) {
        // A server that runs the sync within the request answers with the summary at once.
        setState({ kind: 'sync', runId: answer.runId, run: null, lastProgress: null, summary: answer, error: undefined });
        return;
      }
      setState({ kind: 'sync', runId: answer.runId, run: null, lastProgress: null, summary: null, error: undefined });
      poll(answer.runId);
    } catch (error) {
      setState({ kind: 'sync', runId: null, run: null, lastProgress: null, summary: null, error });
    }
  };

  const dryRun = async () => {
    setState({ kind: 'busy', label: 'Reading the directory and planning (nothing is written)…' });
    try {
      const answer = await api<SyncSummary>('POST', '/api/v1/admin/actions/sync', { dryRun: true, wait: true });
      setState({ kind: 'dry-run', summary: answer });
    } catch (error) {
      setState({ kind: 'error', label: 'Dry run failed', error });
    }
  };

  return (
    <Card
      title="Directory actions"
      class="actions-card"
      testId="directory-actions"
      actions={
        <div class="button-row">
          <button type="button" class="btn" onClick={() => void testConnection()} disabled={isBusy} data-testid="action-test-connection">
            Test Connection
          </button>
          <button type="button" class="btn" onClick={() => setState({ kind: 'search-form' })} disabled={isBusy} data-testid="action-test-search">
            Test LDAP Search
          </button>
          <button type="button" class="btn" onClick={() => void dryRun()} disabled={isBusy} data-testid="action-dry-run">
            Dry run
          </button>
          <button type="button" class="btn btn-primary" onClick={() => void syncNow()} disabled={isBusy} data-testid="action-sync-now">
            Sync Now
          </button>
        </div>
      }
    >
      {isTestingUnsaved ? (
        <p class="alert alert-info testing-unsaved" data-testid="testing-unsaved">
          <strong>Testing unsaved changes.</strong> Test Connection and Test LDAP Search use the form's current values ({unsaved.count} unsaved change
          {unsaved.count === 1 ? '' : 's'}); nothing is saved. Dry run and Sync Now use the saved settings.
        </p>
      ) : null}
      <div class="action-result" data-testid="action-result" data-kind={state.kind} data-tested={'tested' in state ? state.tested : undefined}>
        <ActionResult state={state} username={username} setUsername={setUsername} onSearch={testSearch} onClose={() => setState({ kind: 'idle' })} />
      </div>
    </Card>
  );
}

function ActionResult(props: {
  state: ActionState;
  username: string;
  setUsername: (value: string) => void;
  onSearch: (event: Event) => void;
  onClose: () => void;
}): JSX.Element {
  const { state } = props;
  switch (state.kind) {
    case 'idle':
      return (
        <p class="muted small">
          Test Connection checks the connection, TLS and the service account's bind, and warns about settings that do not fit the directory's data. Test LDAP
          Search finds one user as login would. Dry run shows what Sync Now would change, with a reason for every step, and writes nothing.
        </p>
      );
    case 'busy':
      return (
        <p class="busy">
          <span class="spinner" aria-hidden="true" /> {state.label}
        </p>
      );
    case 'error':
      return (
        <div class="alert alert-error" role="alert" data-testid="action-error">
          <strong>
            {state.label}
            {state.tested === 'unsaved' ? ' with your unsaved changes' : ''}.
          </strong>{' '}
          {state.error instanceof ApiError && state.error.code === 'settings.invalid'
            ? 'The unsaved values are not valid: fix the marked fields.'
            : messageOf(state.error)}
          {state.tested === 'unsaved' ? <div class="small">Nothing was saved; the saved settings are still in force.</div> : null}
        </div>
      );
    case 'connection':
      return <ConnectionResult report={state.report} tested={state.tested} />;
    case 'search-form':
      return (
        <form class="inline-form" onSubmit={props.onSearch} data-testid="test-search-form">
          <label class="field-inline">
            <span>Username to look up</span>
            <input
              name="test-search-username"
              value={props.username}
              onInput={(event) => props.setUsername(event.currentTarget.value)}
              placeholder="e.g. jdoe"
              // biome-ignore lint/a11y/noAutofocus: the form opens on the user's click to type this one field
              autoFocus
              required
            />
          </label>
          <button class="btn btn-primary" type="submit">
            Search
          </button>
          <button class="btn btn-ghost" type="button" onClick={props.onClose}>
            Cancel
          </button>
        </form>
      );
    case 'search':
      return <SearchResult report={state.report} tested={state.tested} />;
    case 'sync':
      return <SyncProgressView state={state} />;
    case 'dry-run':
      return <DryRunResult summary={state.summary} />;
  }
}

/** Which settings a result is about, said in the result itself. */
function testedNote(tested: Tested): string {
  return tested === 'unsaved' ? ' (tested with your unsaved changes, which are not saved yet)' : '';
}

function ConnectionResult(props: { report: TestConnectionReport; tested: Tested }): JSX.Element {
  const { report } = props;
  return (
    <div data-testid="test-connection-result" data-tested={props.tested}>
      <div class="alert alert-success" role="status">
        <strong>Connection succeeded{testedNote(props.tested)}.</strong> Connected to {report.url} (
        {report.security === 'plain' ? 'no TLS' : report.security === 'ldaps' ? 'LDAPS' : 'StartTLS'}) and bound as {report.bind.dn ?? 'anonymous'}.
      </div>
      <Details
        rows={[
          ['Server', `${report.serverType}${report.vendor === null ? '' : ` (${report.vendor})`}`],
          ['Users keyed by', report.uniqueIdAttribute],
          ['Naming contexts', report.namingContexts.join(', ')],
          ['Paged search', report.supportsPaging ? 'supported' : 'not supported'],
          ['Controls', `${report.supportedControls.length} supported`],
          ...(report.writeAccess === undefined
            ? []
            : ([
                ['Write access to users DN', <WriteAccessVerdict access={report.writeAccess.usersDn} setting="writeBack.usersDn" />],
                ['Write access to groups DN', <WriteAccessVerdict access={report.writeAccess.groupsDn} setting="writeBack.groupsDn" />],
              ] as Array<[string, JSX.Element]>)),
        ]}
      />
      <Warnings warnings={report.warnings} />
    </div>
  );
}

/** Whether the bind account may write to one write-back DN, as Test Connection probed it. */
function WriteAccessVerdict(props: { access: WriteAccess | undefined; setting: string }): JSX.Element {
  const { access } = props;
  if (access === undefined) return <span class="muted">not set ({props.setting})</span>;
  const tone = access.writable === true ? 'good' : access.writable === false ? 'bad' : 'warn';
  const label = access.writable === true ? 'writable' : access.writable === false ? 'not writable' : 'unknown';
  return (
    <span data-testid={`write-access-${props.setting}`} data-writable={String(access.writable ?? 'unknown')} title={access.detail}>
      <Badge tone={tone}>{label}</Badge> {access.dn}
    </span>
  );
}

/** How many warnings a result lists before it says how many more there are. */
const SHOWN_WARNINGS = 20;

/** A read's or test's warnings (settings that do not fit the data, each naming the setting to change); nothing when there are none. */
export function Warnings(props: { warnings: readonly string[] | undefined }): JSX.Element | null {
  const warnings = props.warnings ?? [];
  if (warnings.length === 0) return null;
  const shown = warnings.slice(0, SHOWN_WARNINGS);
  return (
    <div class="alert alert-warn" data-testid="warnings">
      <strong>Warnings ({formatNumber(warnings.length)})</strong>
      <ul>
        {shown.map((warning, index) => (
          <li key={index}>{warning}</li>
        ))}
      </ul>
      {warnings.length > shown.length ? <div class="small">… and {formatNumber(warnings.length - shown.length)} more.</div> : null}
    </div>
  );
}

function SearchResult(props: { report: TestSearchReport; tested: Tested }): JSX.Element {
  const { report } = props;
  if (report.status === 'not_found') {
    return (
      <div data-testid="test-search-result" data-tested={props.tested}>
        <div class="alert alert-warn">
          No directory user <strong>{report.username}</strong> was found with the User Search settings{testedNote(props.tested)}.
        </div>
        <Warnings warnings={report.warnings} />
      </div>
    );
  }
  const { user } = report;
  return (
    <div data-testid="test-search-result" data-tested={props.tested}>
      <div class="alert alert-success">
        <strong>
          Found {user.username}
          {testedNote(props.tested)}.
        </strong>{' '}
        {report.entry.dn}
      </div>
      <div class="two-columns">
        <Details
          rows={[
            ['Username', user.username],
            ['Name', `${user.firstName} ${user.lastName}`.trim()],
            ['Display name', user.displayName],
            ['Email', user.email],
            ['Unique id', <code>{user.externalId}</code>],
            ['Directory state', `${user.directoryState}${user.directoryStateReason === undefined ? '' : ` (${user.directoryStateReason})`}`],
          ]}
        />
        <div>
          <h3>Groups ({report.groups.length})</h3>
          {report.groups.length === 0 ? (
            <Empty>Not a member of any group.</Empty>
          ) : (
            <ul class="chips">
              {report.groups.map((group) => (
                <li key={group.dn} title={group.dn}>
                  {group.name}
                  {group.isNested ? <span class="muted small"> (nested)</span> : null}
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
      <Warnings warnings={report.warnings} />
    </div>
  );
}

/** A progress bar with the phase and counts of a running sync, then its result. */
export function SyncProgressView(props: {
  state: { runId: string | null; run: Run | null; lastProgress?: RunProgress | null; summary: SyncSummary | null; error: unknown };
}): JSX.Element {
  const { runId, run, summary, error } = props.state;
  const status = summary?.status ?? run?.status ?? 'running';
  // While running: the run's progress (or the last seen, between polls). Once finished, the result line has the counts.
  const progress = run?.progress ?? props.state.lastProgress ?? null;
  const percent = error !== undefined && summary === null && run === null ? 0 : progressPercent(status, progress);
  const phase = status === 'running' ? (PHASES.find((candidate) => candidate.phase === progress?.phase)?.label ?? 'Starting') : null;
  const counts = summary !== null ? summaryCounts(summary) : (run?.counts ?? {});
  return (
    <div class="sync-progress" data-testid="sync-progress" data-status={error !== undefined && run === null && summary === null ? 'error' : status}>
      <div class="sync-progress-head">
        <strong>{status === 'running' ? 'Sync running' : 'Sync finished'}</strong>
        {phase === null ? null : <span class="muted">{phase}…</span>}
        {status === 'running' ? null : <StatusBadge status={status} />}
      </div>
      <div
        class={`progress ${status === 'running' ? 'progress-active' : `progress-${status}`}`}
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.round(percent)}
        data-testid="sync-progress-bar"
      >
        <div class="progress-fill" style={{ width: `${percent}%` }} />
      </div>
      {status !== 'running' ? null : (
        <div class="progress-counts">
          <span>
            Users read <strong>{formatNumber(progress?.usersRead ?? 0)}</strong>
          </span>
          <span>
            Groups read <strong>{formatNumber(progress?.groupsRead ?? 0)}</strong>
          </span>
          <span>
            Applied{' '}
            <strong>
              {formatNumber(progress?.applied ?? 0)} / {formatNumber(progress?.applyTotal ?? 0)}
            </strong>
          </span>
        </div>
      )}
      {error === undefined ? null : (
        <div class="alert alert-error" role="alert">
          <strong>Sync failed to start.</strong> {messageOf(error)}
        </div>
      )}
      {status === 'running' ? null : (
        <div class="sync-result" data-testid="sync-result">
          <p>
            {describeCounts(counts)} · {formatDuration(summary?.durationMs ?? run?.durationMs)}
            {runId === null ? null : (
              <>
                {' · '}
                <Link href={`/history/${runId}`}>Run details</Link>
              </>
            )}
          </p>
          {(summary?.reason ?? run?.reason) ? <div class="alert alert-warn">{summary?.reason ?? run?.reason}</div> : null}
          {run?.errorMessage ? <div class="alert alert-error">{run.errorMessage}</div> : null}
          <Warnings warnings={summary?.warnings} />
        </div>
      )}
    </div>
  );
}

function DryRunResult(props: { summary: SyncSummary }): JSX.Element {
  const { summary } = props;
  return (
    <div data-testid="dry-run-result">
      <div class={`alert ${summary.status === 'succeeded' ? 'alert-info' : 'alert-warn'}`}>
        <strong>Dry run {summary.status === 'succeeded' ? 'planned' : summary.status}:</strong> {formatNumber(summary.stepsTotal)} step
        {summary.stepsTotal === 1 ? '' : 's'} · {describeCounts(summaryCounts(summary))} · {formatDuration(summary.durationMs)}. Nothing was written.
        {summary.reason === null ? null : <div>{summary.reason}</div>}
      </div>
      <Warnings warnings={summary.warnings} />
      <PlanTable steps={summary.steps} total={summary.stepsTotal} />
    </div>
  );
}

const KIND_TONE: Record<string, 'good' | 'bad' | 'warn' | 'info'> = {
  create: 'good',
  add: 'good',
  grant: 'good',
  enable: 'good',
  disable: 'bad',
  delete: 'bad',
  remove: 'bad',
  revoke: 'bad',
  update: 'info',
  set: 'info',
};

/** The plan: each step's kind, subject and reason. */
export function PlanTable(props: { steps: StepSummary[]; total?: number }): JSX.Element {
  const { steps } = props;
  if (steps.length === 0) return <Empty>The plan is empty: the store already matches the directory.</Empty>;
  return (
    <div>
      <div class="table-scroll">
        <table class="table" data-testid="plan-table">
          <thead>
            <tr>
              <th>Kind</th>
              <th>Subject</th>
              <th>Reason</th>
            </tr>
          </thead>
          <tbody>
            {steps.map((step, index) => {
              const verb = Object.keys(KIND_TONE).find((prefix) => step.kind.toLowerCase().startsWith(prefix));
              return (
                <tr key={index}>
                  <td>
                    <Badge tone={verb === undefined ? 'neutral' : KIND_TONE[verb]}>{step.kind}</Badge>
                  </td>
                  <td>{step.subject}</td>
                  <td class="muted">{step.reason}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {props.total !== undefined && props.total > steps.length ? (
        <p class="muted small">
          Showing the first {formatNumber(steps.length)} of {formatNumber(props.total)} steps.
        </p>
      ) : null}
    </div>
  );
}
