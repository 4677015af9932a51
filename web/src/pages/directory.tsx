/** Groups, roles, channels and teams, each with its members. */
import type { ComponentChildren, JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, query } from '../api.ts';
import {
  Card,
  Details,
  Empty,
  ErrorBox,
  formatDate,
  formatNumber,
  Link,
  Loading,
  PageHeader,
  Pager,
  SearchBox,
  SourceBadge,
  useAsync,
} from '../components.tsx';
import { namedHref, navigate } from '../router.ts';
import type { Channel, Group, Team, UserPage } from '../types.ts';
import { GroupActionsCard, NewGroupPanel } from './group-actions.tsx';
import { UsersTable } from './users.tsx';

const PAGE = 25;

/** What the groups, channels and teams lists show of each item. */
type Named = Pick<Channel, 'id' | 'name' | 'source' | 'memberCount' | 'createdAt'> & { ownerUsername?: string | null };

/** Groups open by id (their names need not be unique); channels and teams by their unique name. */
function detailHref(kind: 'groups' | 'channels' | 'teams', item: Named): string {
  return kind === 'groups' ? `/groups/${item.id}` : namedHref(kind, item.name);
}

/** `headerActions` go in the page header, `above` between it and the list; a new `generation` reloads the list. */
function NamedList(props: {
  kind: 'groups' | 'channels' | 'teams';
  title: string;
  subtitle: string;
  headerActions?: ComponentChildren;
  above?: ComponentChildren;
  generation?: number;
}): JSX.Element {
  const [search, setSearch] = useState('');
  const [offset, setOffset] = useState(0);
  const list = useAsync(async () => {
    const answer = await api<Record<string, unknown> & { total: number }>('GET', `/api/v1/admin/${props.kind}${query({ search, limit: PAGE, offset })}`);
    return { total: answer.total, items: (answer[props.kind] ?? []) as Named[] };
  }, [props.kind, search, offset, props.generation]);
  return (
    <div>
      <PageHeader title={props.title} subtitle={props.subtitle}>
        {props.headerActions}
      </PageHeader>
      {props.above}
      <Card>
        <div class="toolbar">
          <SearchBox
            value={search}
            placeholder={`Search ${props.kind}`}
            onSearch={(value) => {
              setSearch(value);
              setOffset(0);
            }}
          />
        </div>
        <ErrorBox error={list.error} />
        {list.data === undefined ? (
          list.error === undefined ? (
            <Loading />
          ) : null
        ) : list.data.items.length === 0 ? (
          <Empty>
            No {props.kind} {search === '' ? 'yet' : 'match'}.
          </Empty>
        ) : (
          <>
            <div class="table-wrap">
              <table class="table table-hover" data-testid={`${props.kind}-table`}>
                <thead>
                  <tr>
                    <th>Name</th>
                    <th>Source</th>
                    {props.kind === 'channels' ? <th>Owner</th> : null}
                    <th class="num">Members</th>
                    <th>Created</th>
                  </tr>
                </thead>
                <tbody>
                  {list.data.items.map((item) => (
                    <tr key={item.id} onClick={() => navigate(detailHref(props.kind, item))}>
                      <td>
                        <Link href={detailHref(props.kind, item)}>{props.kind === 'channels' ? `#${item.name}` : item.name}</Link>
                      </td>
                      <td>
                        <SourceBadge source={item.source} />
                      </td>
                      {props.kind === 'channels' ? <td>{item.ownerUsername ?? '—'}</td> : null}
                      <td class="num">{formatNumber(item.memberCount)}</td>
                      <td class="muted small">{formatDate(item.createdAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager offset={offset} limit={PAGE} total={list.data.total} onChange={setOffset} />
          </>
        )}
      </Card>
    </div>
  );
}

export function GroupsPage(): JSX.Element {
  const [isCreating, setCreating] = useState(false);
  const [generation, setGeneration] = useState(0);
  return (
    <NamedList
      kind="groups"
      title="Groups"
      subtitle="Groups read from the directory, and local ones, with their member counts."
      generation={generation}
      headerActions={
        <button
          type="button"
          class="btn btn-primary"
          onClick={() => setCreating((current) => !current)}
          aria-expanded={isCreating}
          data-testid="new-group-button"
        >
          New group
        </button>
      }
      above={isCreating ? <NewGroupPanel onClose={() => setCreating(false)} onCreated={() => setGeneration((value) => value + 1)} /> : null}
    />
  );
}

export function ChannelsPage(): JSX.Element {
  return <NamedList kind="channels" title="Channels" subtitle="Channels that Sync Channels created or fills from directory groups." />;
}

export function TeamsPage(): JSX.Element {
  return <NamedList kind="teams" title="Teams" subtitle="Teams filled from directory groups by Sync Teams." />;
}

/** A page of members; a new `generation` reloads it. */
function Members(props: { path: string; generation?: number }): JSX.Element {
  const [offset, setOffset] = useState(0);
  const members = useAsync(() => api<UserPage>('GET', `${props.path}${query({ limit: PAGE, offset })}`), [props.path, offset, props.generation]);
  return (
    <Card title={members.data === undefined ? 'Members' : `Members (${formatNumber(members.data.total)})`} testId="members">
      <ErrorBox error={members.error} />
      {members.data === undefined ? (
        members.error === undefined ? (
          <Loading />
        ) : null
      ) : (
        <>
          <UsersTable users={members.data.users} />
          <Pager offset={offset} limit={PAGE} total={members.data.total} onChange={setOffset} />
        </>
      )}
    </Card>
  );
}

export function GroupPage(props: { id: string }): JSX.Element {
  const [generation, setGeneration] = useState(0);
  const [isGone, setGone] = useState(false);
  const group = useAsync(() => api<Group>('GET', `/api/v1/admin/groups/${encodeURIComponent(props.id)}`), [props.id, generation]);
  return (
    <div>
      <PageHeader title={group.data?.name ?? 'Group'} subtitle={<Link href="/groups">← Groups</Link>} />
      {isGone ? (
        <div class="alert alert-warn" data-testid="group-gone">
          This group was deleted from dirbridge. <Link href="/groups">Back to Groups</Link>
        </div>
      ) : (
        <ErrorBox error={group.error} />
      )}
      {group.data === undefined ? null : (
        <Card title="Group">
          <Details
            rows={[
              ['Source', <SourceBadge source={group.data.source} />],
              ['DN', group.data.dn === null ? null : <code class="wrap">{group.data.dn}</code>],
              ['Unique id', group.data.externalId === null ? null : <code>{group.data.externalId}</code>],
              ['Updated', formatDate(group.data.updatedAt)],
            ]}
          />
        </Card>
      )}
      {group.data === undefined ? null : (
        <GroupActionsCard group={group.data} generation={generation} onChanged={() => setGeneration((value) => value + 1)} onGone={() => setGone(true)} />
      )}
      {isGone ? null : <Members path={`/api/v1/admin/groups/${encodeURIComponent(props.id)}/members`} generation={generation} />}
    </div>
  );
}

function roleHref(role: string): string {
  return `/roles/${encodeURIComponent(role)}`;
}

/** The users holding one role. */
export function RoleMembersPage(props: { role: string }): JSX.Element {
  return (
    <div>
      <PageHeader title={`Role ${props.role}`} subtitle={<Link href="/roles">← Roles</Link>} />
      <Members path={`/api/v1/admin/roles/${encodeURIComponent(props.role)}/members`} />
    </div>
  );
}

/** One channel or team, found by its name (`GET /api/v1/admin/channels/:name`, `teams/:name`), with its members. */
export function NamedPage(props: { kind: 'channels' | 'teams'; name: string }): JSX.Element {
  const isChannel = props.kind === 'channels';
  const item = useAsync(() => api<Channel | Team>('GET', `/api/v1/admin/${props.kind}/${encodeURIComponent(props.name)}`), [props.kind, props.name]);
  const data = item.data;
  const name = data?.name ?? props.name;
  const rows: Array<[string, ComponentChildren]> = [];
  if (data !== undefined) {
    rows.push(['Source', <SourceBadge source={data.source} />]);
    if ('ownerUsername' in data) rows.push(['Owner', data.ownerUsername]);
    rows.push(['Members', formatNumber(data.memberCount)], ['Created', formatDate(data.createdAt)]);
  }
  return (
    <div>
      <PageHeader title={isChannel ? `#${name}` : name} subtitle={<Link href={`/${props.kind}`}>← {isChannel ? 'Channels' : 'Teams'}</Link>} />
      <ErrorBox error={item.error} />
      {data === undefined ? (
        item.error === undefined ? (
          <Loading />
        ) : null
      ) : (
        <>
          <Card title={isChannel ? 'Channel' : 'Team'} testId="named-details">
            <Details rows={rows} />
          </Card>
          <Members path={`/api/v1/admin/${props.kind}/${encodeURIComponent(data.id)}/members`} />
        </>
      )}
    </div>
  );
}

export function RolesPage(): JSX.Element {
  const roles = useAsync(() => api<{ roles: Array<{ role: string; userCount: number }> }>('GET', '/api/v1/admin/roles'), []);
  return (
    <div>
      <PageHeader title="Roles" subtitle="Roles granted by Sync Roles (the User Data Group Map), with how many users hold each; open one for its members." />
      <Card>
        <ErrorBox error={roles.error} />
        {roles.data === undefined ? (
          roles.error === undefined ? (
            <Loading />
          ) : null
        ) : roles.data.roles.length === 0 ? (
          <Empty>No roles have been granted. Enable Sync LDAP Groups in the settings and map groups to roles.</Empty>
        ) : (
          <div class="table-wrap">
            <table class="table" data-testid="roles-table">
              <thead>
                <tr>
                  <th>Role</th>
                  <th class="num">Users</th>
                </tr>
              </thead>
              <tbody>
                {roles.data.roles.map((role) => (
                  <tr key={role.role} onClick={() => navigate(roleHref(role.role))}>
                    <td>
                      <Link href={roleHref(role.role)}>{role.role}</Link>
                    </td>
                    <td class="num">{formatNumber(role.userCount)}</td>
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
