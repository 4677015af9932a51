/** Background jobs of this instance: schedule, next run, whether one runs now, the last run; Run now. */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, messageOf } from '../api.ts';
import { Badge, Card, Empty, ErrorBox, formatDate, formatDuration, formatNumber, Loading, PageHeader, StatusBadge, useAsync } from '../components.tsx';
import type { JobRun, JobsAnswer } from '../types.ts';

const JOB_LABELS: Record<string, string> = {
  'background-sync': 'Background Sync',
  'auto-logout': 'Auto Logout',
  'avatar-sync': 'Avatar Background Sync',
  'abac-sync': 'ABAC Attributes Background Sync',
  'full-sync': 'Full Sync',
};

function LastRun(props: { run: JobRun | null }): JSX.Element {
  const { run } = props;
  if (run === null) return <span class="muted">never</span>;
  return (
    <span>
      <StatusBadge status={run.outcome} /> {formatDate(run.finishedAt)}{' '}
      <span class="muted">
        ({formatDuration(run.durationMs)}, {run.trigger})
      </span>
      {run.message === null ? null : <div class="muted small">{run.message}</div>}
    </span>
  );
}

export function JobsPage(): JSX.Element {
  const jobs = useAsync(() => api<JobsAnswer>('GET', '/api/v1/admin/jobs'), []);
  const [running, setRunning] = useState<string | null>(null);
  const [message, setMessage] = useState<{ tone: 'success' | 'error'; text: string } | null>(null);

  const runNow = async (name: string) => {
    setRunning(name);
    setMessage(null);
    try {
      const answer = await api<{ ran: true; run: JobRun }>('POST', `/api/v1/admin/jobs/${encodeURIComponent(name)}/run`, { wait: true });
      setMessage({
        tone: answer.run.outcome === 'succeeded' ? 'success' : 'error',
        text: `${JOB_LABELS[name] ?? name}: ${answer.run.outcome}${answer.run.message === null ? '' : ` — ${answer.run.message}`}`,
      });
    } catch (error) {
      setMessage({ tone: 'error', text: `${JOB_LABELS[name] ?? name}: ${messageOf(error)}` });
    } finally {
      setRunning(null);
      jobs.reload();
    }
  };

  return (
    <div>
      <PageHeader
        title="Jobs"
        subtitle="The background work this server runs on the schedules in the settings: Background Sync, Auto Logout, Avatar and ABAC sync."
      >
        <button type="button" class="btn" onClick={jobs.reload}>
          Refresh
        </button>
      </PageHeader>
      {message === null ? null : <div class={`alert alert-${message.tone}`}>{message.text}</div>}
      <Card>
        <ErrorBox error={jobs.error} />
        {jobs.data === undefined ? (
          jobs.error === undefined ? (
            <Loading />
          ) : null
        ) : !jobs.data.schedulerRunning ? (
          <Empty>This server runs no scheduler (it was not started with dirbridge serve), so no job runs here.</Empty>
        ) : jobs.data.jobs.length === 0 ? (
          <Empty>No job is switched on in the settings.</Empty>
        ) : (
          <div class="table-wrap">
            <table class="table" data-testid="jobs-table">
              <thead>
                <tr>
                  <th>Job</th>
                  <th>Schedule</th>
                  <th>Next run</th>
                  <th>State</th>
                  <th>Last run</th>
                  <th class="num">Runs</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {jobs.data.jobs.map((job) => (
                  <tr key={job.name}>
                    <td>
                      <strong>{JOB_LABELS[job.name] ?? job.name}</strong>
                      <div class="muted small">{job.name}</div>
                    </td>
                    <td>
                      {job.schedule === null ? <span class="muted">on demand</span> : <code>{job.schedule}</code>}
                      {job.cron !== null && job.cron !== job.schedule ? <div class="muted small">cron {job.cron}</div> : null}
                    </td>
                    <td>{formatDate(job.nextRunAt)}</td>
                    <td>
                      {job.isRunning ? <Badge tone="info">running</Badge> : <Badge>idle</Badge>}
                      {job.lastSkip === null ? null : (
                        <div class="muted small">
                          skipped {formatDate(job.lastSkip.at)} ({job.lastSkip.reason})
                        </div>
                      )}
                    </td>
                    <td>
                      <LastRun run={job.lastRun} />
                    </td>
                    <td class="num">
                      {formatNumber(job.runs)}
                      {job.failures > 0 ? (
                        <div class="small" style={{ color: 'var(--bad)' }}>
                          {formatNumber(job.failures)} failed
                        </div>
                      ) : null}
                    </td>
                    <td>
                      <button type="button" class="btn btn-small" disabled={job.isRunning || running !== null} onClick={() => void runNow(job.name)}>
                        {running === job.name ? 'Running…' : 'Run now'}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
    </div>
  );
}
