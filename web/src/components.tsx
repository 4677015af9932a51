/** Small building blocks shared by the pages. */
import type { ComponentChildren, JSX } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { messageOf } from './api.ts';
import { navigate } from './router.ts';
import type { User } from './types.ts';

/** The result of loading something: data, an error, or still loading; `reload` fetches again. */
export interface Async<T> {
  data: T | undefined;
  error: unknown;
  isLoading: boolean;
  reload: () => void;
}

/** Runs `load` when `deps` change; ignores answers that arrive after a newer request started. */
export function useAsync<T>(load: () => Promise<T>, deps: readonly unknown[]): Async<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; isLoading: boolean }>({ data: undefined, error: undefined, isLoading: true });
  const generation = useRef(0);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const current = ++generation.current;
    setState((previous) => ({ ...previous, isLoading: true }));
    load().then(
      (data) => {
        if (current === generation.current) setState({ data, error: undefined, isLoading: false });
      },
      (error: unknown) => {
        if (current === generation.current) setState((previous) => ({ data: previous.data, error, isLoading: false }));
      },
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((value) => value + 1), []);
  return { ...state, reload };
}

/** A link to a client route. */
export function Link(props: { href: string; class?: string; children: ComponentChildren; testId?: string; isCurrent?: boolean }): JSX.Element {
  return (
    <a
      href={props.href}
      class={props.class}
      data-testid={props.testId}
      aria-current={props.isCurrent ? 'page' : undefined}
      onClick={(event) => {
        if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
        event.preventDefault();
        navigate(props.href);
      }}
    >
      {props.children}
    </a>
  );
}

/** A page's title row, with optional actions on the right and something (an avatar) before the title. */
export function PageHeader(props: { title: string; subtitle?: ComponentChildren; children?: ComponentChildren; leading?: ComponentChildren }): JSX.Element {
  const heading = (
    <div>
      <h1>{props.title}</h1>
      {props.subtitle === undefined ? null : <p class="muted">{props.subtitle}</p>}
    </div>
  );
  return (
    <header class="page-header">
      {props.leading === undefined ? (
        heading
      ) : (
        <div class="page-header-lead">
          {props.leading}
          {heading}
        </div>
      )}
      {props.children === undefined ? null : <div class="page-actions">{props.children}</div>}
    </header>
  );
}

/** An error box; renders nothing without an error. */
export function ErrorBox(props: { error: unknown; title?: string }): JSX.Element | null {
  if (props.error === undefined || props.error === null) return null;
  return (
    <div class="alert alert-error" role="alert">
      {props.title === undefined ? null : <strong>{props.title}: </strong>}
      {messageOf(props.error)}
    </div>
  );
}

/** "Loading…" while something loads for the first time. */
export function Loading(): JSX.Element {
  return <p class="muted loading">Loading…</p>;
}

export type Tone = 'neutral' | 'good' | 'bad' | 'warn' | 'info';

/** A small coloured label. */
export function Badge(props: { tone?: Tone; children: ComponentChildren; title?: string }): JSX.Element {
  return (
    <span class={`badge badge-${props.tone ?? 'neutral'}`} title={props.title}>
      {props.children}
    </span>
  );
}

/** Up to two initials for a placeholder avatar. */
function initialsOf(name: string): string {
  const words = name.split(/[\s._@-]+/).filter((word) => word !== '');
  return words
    .slice(0, 2)
    .map((word) => [...word][0]?.toUpperCase() ?? '')
    .join('');
}

/**
 * A user's avatar: the synced photo (`GET /api/v1/admin/users/:id/avatar?v=<hash>`, cached by the
 * browser for as long as the hash stays), or the user's initials when there is none or it does
 * not load. Images load lazily, so a long table fetches only the rows in view.
 */
export function Avatar(props: { userId: string; hash: string | null; name: string; size: number; testId?: string }): JSX.Element {
  const [failed, setFailed] = useState<string | null>(null);
  const style = { width: `${props.size}px`, height: `${props.size}px`, fontSize: `${Math.max(10, Math.round(props.size * 0.4))}px` };
  if (props.hash === null || failed === props.hash) {
    return (
      <span class="avatar avatar-initials" style={style} aria-hidden="true" data-testid={props.testId} data-avatar="none">
        {initialsOf(props.name)}
      </span>
    );
  }
  const hash = props.hash;
  return (
    <img
      class="avatar"
      style={style}
      src={`/api/v1/admin/users/${encodeURIComponent(props.userId)}/avatar?v=${encodeURIComponent(hash)}`}
      alt={`Avatar of ${props.name}`}
      width={props.size}
      height={props.size}
      loading="lazy"
      decoding="async"
      data-testid={props.testId}
      data-avatar="image"
      onError={() => setFailed(hash)}
    />
  );
}

/** Directory or local. */
export function SourceBadge(props: { source: 'local' | 'directory' }): JSX.Element {
  return props.source === 'directory' ? <Badge tone="info">Directory</Badge> : <Badge>Local</Badge>;
}

const DISABLED_BY: Record<string, string> = { admin: 'an administrator', sync: 'sync (missing from the directory)', directory: 'the directory' };

/** Active, or disabled and by whom. */
export function StateBadge(props: { user: Pick<User, 'isEnabled' | 'disabledBy' | 'disabledReason'> }): JSX.Element {
  const { user } = props;
  if (user.isEnabled) return <Badge tone="good">Active</Badge>;
  const by = user.disabledBy === null ? '' : ` by ${user.disabledBy}`;
  const title =
    user.disabledBy === null
      ? (user.disabledReason ?? undefined)
      : `Disabled by ${DISABLED_BY[user.disabledBy] ?? user.disabledBy}${user.disabledReason === null ? '' : `: ${user.disabledReason}`}`;
  return (
    <Badge tone="bad" title={title}>
      Disabled{by}
    </Badge>
  );
}

/** A run's status. */
export function StatusBadge(props: { status: string }): JSX.Element {
  const tone: Tone = props.status === 'succeeded' ? 'good' : props.status === 'running' ? 'info' : props.status === 'refused' ? 'warn' : 'bad';
  return <Badge tone={tone}>{props.status}</Badge>;
}

/** Previous/next paging with "1–25 of 1,234". */
export function Pager(props: { offset: number; limit: number; total: number; onChange: (offset: number) => void }): JSX.Element {
  const { offset, limit, total } = props;
  const first = total === 0 ? 0 : offset + 1;
  const last = Math.min(offset + limit, total);
  const page = Math.floor(offset / limit) + 1;
  const pages = Math.max(1, Math.ceil(total / limit));
  return (
    <div class="pager" data-testid="pager">
      <span class="muted">
        {formatNumber(first)}–{formatNumber(last)} of {formatNumber(total)}
      </span>
      <button type="button" class="btn btn-small" disabled={offset === 0} onClick={() => props.onChange(0)} aria-label="First page">
        «
      </button>
      <button type="button" class="btn btn-small" disabled={offset === 0} onClick={() => props.onChange(Math.max(0, offset - limit))}>
        Previous
      </button>
      <span class="pager-page">
        Page {formatNumber(page)} of {formatNumber(pages)}
      </span>
      <button type="button" class="btn btn-small" disabled={last >= total} onClick={() => props.onChange(offset + limit)}>
        Next
      </button>
      <button type="button" class="btn btn-small" disabled={last >= total} onClick={() => props.onChange((pages - 1) * limit)} aria-label="Last page">
        »
      </button>
    </div>
  );
}

/** A search box that reports its value after the user pauses typing. */
export function SearchBox(props: { value: string; placeholder: string; onSearch: (value: string) => void; testId?: string }): JSX.Element {
  const [text, setText] = useState(props.value);
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  return (
    <input
      type="search"
      class="search"
      placeholder={props.placeholder}
      value={text}
      data-testid={props.testId}
      aria-label={props.placeholder}
      onInput={(event) => {
        const value = event.currentTarget.value;
        setText(value);
        window.clearTimeout(timer.current);
        timer.current = window.setTimeout(() => props.onSearch(value.trim()), 250);
      }}
      onKeyDown={(event) => {
        if (event.key === 'Enter') {
          window.clearTimeout(timer.current);
          props.onSearch(event.currentTarget.value.trim());
        }
      }}
    />
  );
}

/** A definition list of label → value rows. */
export function Details(props: { rows: Array<[string, ComponentChildren]> }): JSX.Element {
  return (
    <dl class="details">
      {props.rows.map(([label, value]) => (
        <div class="details-row" key={label}>
          <dt>{label}</dt>
          <dd>{value === null || value === undefined || value === '' ? <span class="muted">—</span> : value}</dd>
        </div>
      ))}
    </dl>
  );
}

/** A card with an optional title. */
export function Card(props: {
  title?: ComponentChildren;
  children: ComponentChildren;
  class?: string;
  actions?: ComponentChildren;
  testId?: string;
  id?: string;
}): JSX.Element {
  return (
    <section class={`card ${props.class ?? ''}`} data-testid={props.testId} id={props.id}>
      {props.title === undefined && props.actions === undefined ? null : (
        <div class="card-header">
          {props.title === undefined ? <span /> : <h2>{props.title}</h2>}
          {props.actions}
        </div>
      )}
      {props.children}
    </section>
  );
}

/** An empty-state line inside a table or card. */
export function Empty(props: { children: ComponentChildren }): JSX.Element {
  return <p class="empty muted">{props.children}</p>;
}

const numberFormat = new Intl.NumberFormat('en-US');

/** 12,345 */
export function formatNumber(value: number): string {
  return numberFormat.format(value);
}

/** A timestamp in the browser's locale, or a dash. */
export function formatDate(value: string | number | null | undefined): string {
  if (value === null || value === undefined || value === '') return '—';
  const date = new Date(value);
  return Number.isNaN(date.getTime())
    ? String(value)
    : date.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** 412 ms, 3.2 s, 2 min 5 s. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** The non-zero counts of a flat `{ "users.created": 3 }` record, as "3 users created". */
export function describeCounts(counts: Record<string, number>): string {
  const parts = Object.entries(counts)
    .filter(([key, value]) => value > 0 && !key.endsWith('.unchanged'))
    .map(([key, value]) => `${formatNumber(value)} ${key.replace('.', ' ')}`);
  return parts.length === 0 ? 'no changes' : parts.join(', ');
}
