/** The audit log, newest first, filterable by action. */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, query } from '../api.ts';
import { Card, Empty, ErrorBox, formatDate, Link, Loading, PageHeader, Pager, SearchBox, useAsync } from '../components.tsx';
import type { AuditEntry } from '../types.ts';

const PAGE = 50;

export function AuditPage(): JSX.Element {
  const [action, setAction] = useState('');
  const [offset, setOffset] = useState(0);
  const audit = useAsync(
    () => api<{ total: number; entries: AuditEntry[] }>('GET', `/api/v1/admin/audit${query({ action, limit: PAGE, offset })}`),
    [action, offset],
  );
  return (
    <div>
      <PageHeader title="Audit log" subtitle="Every lifecycle change, login refusal and administrator action, with its actor and reason." />
      <Card>
        <div class="toolbar">
          <SearchBox
            value={action}
            placeholder="Filter by action, e.g. user.disabled"
            onSearch={(value) => {
              setAction(value);
              setOffset(0);
            }}
          />
        </div>
        <ErrorBox error={audit.error} />
        {audit.data === undefined ? (
          audit.error === undefined ? (
            <Loading />
          ) : null
        ) : audit.data.entries.length === 0 ? (
          <Empty>No audit entries.</Empty>
        ) : (
          <>
            <div class="table-wrap">
              <table class="table" data-testid="audit-table">
                <thead>
                  <tr>
                    <th>When</th>
                    <th>Actor</th>
                    <th>Action</th>
                    <th>Subject</th>
                    <th>Reason</th>
                  </tr>
                </thead>
                <tbody>
                  {audit.data.entries.map((entry) => (
                    <tr key={entry.id}>
                      <td class="nowrap small">{formatDate(entry.at)}</td>
                      <td>{entry.actor}</td>
                      <td>
                        <code>{entry.action}</code>
                      </td>
                      <td>{entry.userId === null ? (entry.subject ?? '—') : <Link href={`/users/${entry.userId}`}>{entry.subject ?? entry.userId}</Link>}</td>
                      <td class="muted">{entry.reason ?? '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager offset={offset} limit={PAGE} total={audit.data.total} onChange={setOffset} />
          </>
        )}
      </Card>
    </div>
  );
}
