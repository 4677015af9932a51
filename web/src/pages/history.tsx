/** Sync history: a chart of durations and changes per run, the runs, and each run's details with its plan summary. */
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, query } from '../api.ts';
import {
  Badge,
  Card,
  Details,
  describeCounts,
  Empty,
  ErrorBox,
  formatDate,
  formatDuration,
  formatNumber,
  Link,
  Loading,
  PageHeader,
  Pager,
  StatusBadge,
  useAsync,
} from '../components.tsx';
import { navigate } from '../router.ts';
import type { Run } from '../types.ts';
import { PlanTable, SyncProgressView } from './sync.tsx';

const PAGE = 25;

function changesOf(run: Run): number {
  return Object.entries(run.counts)
    .filter(([key]) => !key.endsWith('.unchanged') && !key.endsWith('.skipped'))
    .reduce((sum, [, value]) => sum + value, 0);
}

const STATUS_COLOURS: Record<string, string> = { succeeded: '#2f7d5b', failed: '#c2413a', refused: '#c98a14', running: '#3a6fd8' };

/** Bars of each run's duration, with a line of its changes; oldest on the left. */
export function RunsChart(props: { runs: Run[] }): JSX.Element {
  const runs = [...props.runs].reverse();
  const width = 760;
  const height = 220;
  const pad = { left: 56, right: 56, top: 16, bottom: 36 };
  const innerWidth = width - pad.left - pad.right;
  const innerHeight = height - pad.top - pad.bottom;
  const maxDuration = Math.max(1, ...runs.map((run) => run.durationMs ?? 0));
  const maxChanges = Math.max(1, ...runs.map(changesOf));
  const slot = innerWidth / Math.max(runs.length, 1);
  const barWidth = Math.max(3, Math.min(28, slot * 0.6));
  const x = (index: number) => pad.left + slot * index + slot / 2;
  const yDuration = (ms: number) => pad.top + innerHeight - (innerHeight * ms) / maxDuration;
  const yChanges = (count: number) => pad.top + innerHeight - (innerHeight * count) / maxChanges;
  const ticks = [0, 0.5, 1];
  const line = runs.map((run, index) => `${index === 0 ? 'M' : 'L'}${x(index).toFixed(1)},${yChanges(changesOf(run)).toFixed(1)}`).join(' ');
  return (
    <figure class="chart" data-testid="runs-chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`Duration and changes of the last ${runs.length} sync runs`}>
        {ticks.map((tick) => {
          const y = pad.top + innerHeight - innerHeight * tick;
          return (
            <g key={tick}>
              <line x1={pad.left} x2={width - pad.right} y1={y} y2={y} class="chart-grid" />
              <text x={pad.left - 8} y={y + 4} text-anchor="end" class="chart-axis">
                {formatDuration(maxDuration * tick)}
              </text>
              <text x={width - pad.right + 8} y={y + 4} class="chart-axis">
                {formatNumber(Math.round(maxChanges * tick))}
              </text>
            </g>
          );
        })}
        {runs.map((run, index) => {
          const y = yDuration(run.durationMs ?? 0);
          return (
            // biome-ignore lint/a11y/noStaticElementInteractions: a mouse shortcut on the chart; the table below links every run
            <rect
              key={run.id}
              class="chart-bar"
              x={x(index) - barWidth / 2}
              y={y}
              width={barWidth}
              height={Math.max(1, pad.top + innerHeight - y)}
              rx={2}
              fill={STATUS_COLOURS[run.status] ?? '#888'}
              opacity={run.isDryRun ? 0.45 : 1}
              onClick={() => navigate(`/history/${run.id}`)}
            >
              <title>{`${formatDate(run.startedAt)} · ${run.status}${run.isDryRun ? ' (dry run)' : ''} · ${formatDuration(run.durationMs)} · ${formatNumber(changesOf(run))} changes`}</title>
            </rect>
          );
        })}
        {runs.length > 1 ? <path d={line} class="chart-line" /> : null}
        {runs.map((run, index) => (
          <circle key={run.id} cx={x(index)} cy={yChanges(changesOf(run))} r={3} class="chart-point" />
        ))}
        <text x={pad.left} y={height - 10} class="chart-axis">
          {runs.length === 0 ? '' : formatDate(runs[0]?.startedAt)}
        </text>
        <text x={width - pad.right} y={height - 10} text-anchor="end" class="chart-axis">
          {runs.length === 0 ? '' : formatDate(runs[runs.length - 1]?.startedAt)}
        </text>
      </svg>
      <figcaption class="chart-legend">
        <span>
          <i class="swatch" style={{ background: STATUS_COLOURS['succeeded'] }} /> duration (succeeded)
        </span>
        <span>
          <i class="swatch" style={{ background: STATUS_COLOURS['refused'] }} /> refused
        </span>
        <span>
          <i class="swatch" style={{ background: STATUS_COLOURS['failed'] }} /> failed
        </span>
        <span>
          <i class="swatch swatch-line" /> changes (right axis)
        </span>
        <span class="muted">faded: dry run</span>
      </figcaption>
    </figure>
  );
}

/** Calls `reload` every `ms` while `isActive` (a run is still going). */
function useRefreshWhile(isActive: boolean, reload: () => void, ms: number): void {
  useEffect(() => {
    if (!isActive) return undefined;
    const timer = window.setInterval(reload, ms);
    return () => window.clearInterval(timer);
  }, [isActive, reload, ms]);
}

export function HistoryPage(): JSX.Element {
  const [offset, setOffset] = useState(0);
  const runs = useAsync(() => api<{ total: number; runs: Run[] }>('GET', `/api/v1/admin/runs${query({ limit: PAGE, offset })}`), [offset]);
  useRefreshWhile(runs.data?.runs.some((run) => run.status === 'running') ?? false, runs.reload, 2000);
  return (
    <div>
      <PageHeader title="Sync history" subtitle="Every recorded run: background, API, CLI and dry runs, with the guard's reason when one was refused.">
        <button type="button" class="btn" onClick={runs.reload}>
          Refresh
        </button>
      </PageHeader>
      <ErrorBox error={runs.error} />
      {runs.data === undefined ? (
        runs.error === undefined ? (
          <Loading />
        ) : null
      ) : (
        <>
          <Card title="Duration and changes">{runs.data.runs.length === 0 ? <Empty>No sync has run yet.</Empty> : <RunsChart runs={runs.data.runs} />}</Card>
          <Card title="Runs">
            <div class="table-wrap">
              <table class="table table-hover" data-testid="runs-table">
                <thead>
                  <tr>
                    <th>Started</th>
                    <th>Trigger</th>
                    <th>Status</th>
                    <th class="num">Duration</th>
                    <th>Changes</th>
                  </tr>
                </thead>
                <tbody>
                  {runs.data.runs.map((run) => (
                    <tr key={run.id} onClick={() => navigate(`/history/${run.id}`)}>
                      <td>
                        <Link href={`/history/${run.id}`}>{formatDate(run.startedAt)}</Link>
                      </td>
                      <td>
                        {run.trigger}
                        {run.mode === 'incremental' ? (
                          <>
                            {' '}
                            <Badge>incremental</Badge>
                          </>
                        ) : null}
                        {run.isDryRun ? (
                          <>
                            {' '}
                            <Badge>dry run</Badge>
                          </>
                        ) : null}
                      </td>
                      <td>
                        <StatusBadge status={run.status} />
                      </td>
                      <td class="num">{formatDuration(run.durationMs)}</td>
                      <td class="muted">{run.reason ?? run.errorMessage ?? describeCounts(run.counts)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager offset={offset} limit={PAGE} total={runs.data.total} onChange={setOffset} />
          </Card>
        </>
      )}
    </div>
  );
}

export function RunPage(props: { id: string }): JSX.Element {
  const run = useAsync(() => api<Run>('GET', `/api/v1/admin/runs/${encodeURIComponent(props.id)}`), [props.id]);
  const data = run.data;
  useRefreshWhile(data?.status === 'running', run.reload, 1000);
  return (
    <div>
      <PageHeader title="Sync run" subtitle={<Link href="/history">← Sync history</Link>}>
        <button type="button" class="btn" onClick={run.reload}>
          Refresh
        </button>
      </PageHeader>
      <ErrorBox error={run.error} />
      {data === undefined ? (
        run.error === undefined ? (
          <Loading />
        ) : null
      ) : (
        <>
          <Card
            title={
              <>
                Run {data.isDryRun ? <Badge>dry run</Badge> : null} <StatusBadge status={data.status} />
              </>
            }
            testId="run-details"
          >
            {data.status === 'running' ? <SyncProgressView state={{ runId: null, run: data, summary: null, error: undefined }} /> : null}
            <Details
              rows={[
                ['Id', <code>{data.id}</code>],
                ['Trigger', data.trigger],
                [
                  'Read',
                  data.mode === null
                    ? null
                    : `${data.mode === 'full' ? 'everything' : 'the changes since the last sync'}${data.entriesRead === null ? '' : ` (${formatNumber(data.entriesRead)} entries)`}`,
                ],
                ['Why everything', data.modeReason],
                ['Started', formatDate(data.startedAt)],
                ['Finished', formatDate(data.finishedAt)],
                ['Duration', formatDuration(data.durationMs)],
                ['Reason', data.reason],
                ['Error', data.errorCode === null ? null : `${data.errorMessage ?? ''} (${data.errorCode})`],
              ]}
            />
          </Card>
          <Card title="Counts">
            {Object.keys(data.counts).length === 0 ? (
              <Empty>No counts were recorded.</Empty>
            ) : (
              <div class="count-grid">
                {Object.entries(data.counts).map(([key, value]) => (
                  <div class={`count ${value > 0 ? '' : 'count-zero'}`} key={key}>
                    <span class="count-value">{formatNumber(value)}</span>
                    <span class="count-label">{key.replace('.', ' ')}</span>
                  </div>
                ))}
              </div>
            )}
          </Card>
          <Card title="Plan summary">
            <p class="muted small">The first steps of each kind, with the reason for each.</p>
            <PlanTable steps={data.planSummary ?? []} />
          </Card>
        </>
      )}
    </div>
  );
}
