/** The server's recent log lines (as the seed says: check the logs when an action gives no answer). */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, query } from '../api.ts';
import { Badge, Card, Empty, ErrorBox, formatDate, Loading, PageHeader, type Tone, useAsync } from '../components.tsx';
import type { LogEntry } from '../types.ts';

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const LEVEL_TONES: Record<string, Tone> = { warn: 'warn', error: 'bad', fatal: 'bad', info: 'info' };

function levelName(level: string | number): string {
  return typeof level === 'number' ? (LEVEL_NAMES[level] ?? String(level)) : level;
}

export function LogsPage(): JSX.Element {
  const [level, setLevel] = useState('');
  const [limit, setLimit] = useState(200);
  const logs = useAsync(() => api<{ entries: LogEntry[] }>('GET', `/api/v1/admin/logs${query({ limit, level })}`), [limit, level]);
  return (
    <div>
      <PageHeader title="Logs" subtitle="Recent log lines of this server, newest first. Secrets are redacted before they are logged.">
        <button type="button" class="btn" onClick={logs.reload}>
          Refresh
        </button>
      </PageHeader>
      <Card>
        <div class="toolbar">
          <select value={level} onChange={(event) => setLevel(event.currentTarget.value)} aria-label="Level">
            <option value="">All levels</option>
            <option value="debug">debug and above</option>
            <option value="info">info and above</option>
            <option value="warn">warn and above</option>
            <option value="error">error and above</option>
          </select>
          <select value={String(limit)} onChange={(event) => setLimit(Number(event.currentTarget.value))} aria-label="Lines">
            <option value="100">100 lines</option>
            <option value="200">200 lines</option>
            <option value="500">500 lines</option>
          </select>
        </div>
        <ErrorBox error={logs.error} />
        {logs.data === undefined ? (
          logs.error === undefined ? (
            <Loading />
          ) : null
        ) : logs.data.entries.length === 0 ? (
          <Empty>No log lines.</Empty>
        ) : (
          <div class="table-wrap">
            <table class="table table-logs" data-testid="logs-table">
              <thead>
                <tr>
                  <th>Time</th>
                  <th>Level</th>
                  <th>Message</th>
                  <th>Fields</th>
                </tr>
              </thead>
              <tbody>
                {logs.data.entries.map((entry, index) => {
                  const { time, level: entryLevel, msg, ...fields } = entry;
                  const name = levelName(entryLevel);
                  return (
                    <tr key={index}>
                      <td class="nowrap small">{formatDate(time)}</td>
                      <td>
                        <Badge tone={LEVEL_TONES[name] ?? 'neutral'}>{name}</Badge>
                      </td>
                      <td>{msg}</td>
                      <td>
                        <code class="log-fields">{Object.keys(fields).length === 0 ? '' : JSON.stringify(fields)}</code>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </Card>
    </div>
  );
}
