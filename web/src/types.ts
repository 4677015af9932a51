/**
 * The shapes of the API answers the console reads (see src/http/schemas.ts and the route files).
 * Where the server declares a shape the console reads as it is, the type is imported from there
 * (`import type`: esbuild drops it, nothing of the server reaches the bundle).
 */
import type { JobRunView, JobView } from '../../src/http/schemas.ts';
import type { SettingsField, SettingsFieldKind, SettingsForm as ServerSettingsForm, SettingsSection } from '../../src/settings/form.ts';
import type { ChannelRecord, TeamRecord, UserState as ServerUserState } from '../../src/store/store.ts';
import type { Verification } from '../../src/verify-settings.ts';

export interface AdminSession {
  csrfToken: string;
  expiresAt: string;
  user: { id: string; username: string; displayName: string | null; source: 'local' | 'directory' };
}

export interface User {
  id: string;
  username: string;
  email: string | null;
  firstName: string;
  lastName: string;
  displayName: string | null;
  source: 'local' | 'directory';
  externalId: string | null;
  dn: string | null;
  isEnabled: boolean;
  disabledBy: 'directory' | 'sync' | 'admin' | null;
  disabledReason: string | null;
  isAdmin: boolean;
  hasPassword: boolean;
  missingRuns: number;
  notes: string | null;
  createdAt: string;
  updatedAt: string;
  lastSyncedAt: string | null;
}

/** A user in a page of users, with its avatar's hash (null without one); the image is at `/api/v1/admin/users/:id/avatar?v=<hash>`. */
export interface ListedUser extends User {
  avatarHash: string | null;
}

export interface UserPage {
  total: number;
  users: ListedUser[];
}

/** A user's stored avatar, as the user detail describes it. */
export interface AvatarInfo {
  hash: string;
  url: string;
  mimeType: string;
  byteLength: number;
  updatedAt: string;
}

export interface UserDetail {
  user: User;
  groups: Array<{ id: string; name: string; source: 'local' | 'directory' }>;
  roles: string[];
  channels: Array<{ id: string; name: string }>;
  teams: Array<{ id: string; name: string }>;
  customFields: Record<string, string>;
  abacAttributes: Record<string, string[]>;
  readOnlyFields: string[];
  avatar: AvatarInfo | null;
}

/** The account states the users list filters by (`state=`); absent: all. */
export type UserState = ServerUserState;

/** A channel or team as listed, and as `GET channels/:name` / `teams/:name` answer. */
export type Channel = ChannelRecord & { memberCount: number };
export type Team = TeamRecord & { memberCount: number };

export interface Group {
  id: string;
  externalId: string | null;
  dn: string | null;
  name: string;
  source: 'local' | 'directory';
  createdAt: string;
  updatedAt: string;
  memberCount?: number;
}

export interface StepSummary {
  kind: string;
  subject: string;
  reason: string;
}

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'refused';

export interface RunProgress {
  phase: string;
  usersRead: number;
  groupsRead: number;
  applied: number;
  applyTotal: number;
  updatedAt: string;
}

export interface Run {
  id: string;
  trigger: string;
  isDryRun: boolean;
  status: RunStatus;
  reason: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  counts: Record<string, number>;
  progress?: RunProgress | null;
  planSummary?: StepSummary[];
}

export interface SyncSummary {
  runId: string;
  status: Exclude<RunStatus, 'running'>;
  reason: string | null;
  dryRun: boolean;
  users: Record<string, number>;
  groups: Record<string, number>;
  memberships: Record<string, number>;
  roles: Record<string, number>;
  channels: Record<string, number>;
  teams: Record<string, number>;
  attributes: Record<string, number>;
  durationMs: number;
  warnings: string[];
  stepsTotal: number;
  steps: StepSummary[];
}

export interface AuditEntry {
  id: string;
  at: string;
  actor: string;
  action: string;
  userId: string | null;
  subject: string | null;
  reason: string | null;
  details: unknown;
}

/** The settings form (`GET /api/v1/admin/settings/form`), as `src/settings/form.ts` builds it. */
export type FieldKind = SettingsFieldKind;
export type FormField = SettingsField;
export type FormSection = SettingsSection;
export type SettingsForm = ServerSettingsForm;

/** What a verified save (`PUT /api/v1/admin/settings?verify=connection`) found; `paths` are the changed `directory.*` paths. */
export type SettingsVerification = Verification;

export interface SettingsDocument {
  version: number;
  changed?: string[];
  verification?: SettingsVerification;
  updatedAt: string | null;
  updatedBy: string | null;
  settings: Record<string, unknown>;
  secrets: Record<string, { isSet: boolean }>;
}

/** A scheduler job and its last run (`GET /api/v1/admin/jobs`). */
export type JobRun = JobRunView;
export type Job = JobView;

export interface JobsAnswer {
  schedulerRunning: boolean;
  jobs: Job[];
}

export interface LogEntry {
  time: string | number;
  level: string | number;
  msg: string;
  [key: string]: unknown;
}
