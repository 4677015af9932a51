/**
 * The shapes of the API answers the console reads (see src/http/schemas.ts and the route files).
 * Where the server declares a shape the console reads as it is, the type is imported from there
 * (`import type`: esbuild drops it, nothing of the server reaches the bundle).
 */

import type { z } from 'zod';
import type { TestConnectionView } from '../../src/http/routes/admin-actions.ts';
import type { UnthrottleView, UserDetailView } from '../../src/http/routes/admin-data.ts';
import type { AdminSessionView } from '../../src/http/routes/admin-session.ts';
import type { writeActionSchema } from '../../src/http/routes/admin-write-actions.ts';
import type { ConflictPageView, OutboxPageView, OutboxRowView, RetryResultView, WriteBackConflictView } from '../../src/http/routes/admin-writeback.ts';
import type {
  AuditEntryView,
  GroupView,
  JobRunView,
  JobView,
  ListedUserView,
  RunView,
  StepSummaryView,
  SyncSummaryView,
  UserPageView,
  UserView,
} from '../../src/http/schemas.ts';
import type { ChannelRecord, UserState as ServerUserState, TeamRecord } from '../../src/model/index.ts';
import type { SettingsForm as ServerSettingsForm, SettingsField, SettingsFieldKind, SettingsSection } from '../../src/settings/form.ts';
import type { WriteBackSettings as ServerWriteBackSettings } from '../../src/settings/schema.ts';
import type { Verification } from '../../src/verify-settings.ts';

export type AdminSession = AdminSessionView;

export type User = UserView;

/** A user in a page of users, with its avatar's hash (null without one); the image is at `/api/v1/admin/users/:id/avatar?v=<hash>`. */
export type ListedUser = ListedUserView;

export type UserPage = UserPageView;

/** A user with its groups, mapping results, read-only fields and stored avatar (`GET users/:id`). */
export type UserDetail = UserDetailView;
/** What `POST /api/v1/admin/users/:id/unthrottle` answers. */
export type UnthrottleResult = UnthrottleView;
/** A user's stored avatar, as the user detail describes it. */
export type AvatarInfo = NonNullable<UserDetail['avatar']>;

/** The account states the users list filters by (`state=`); absent: all. */
export type UserState = ServerUserState;

/** A channel or team as listed, and as `GET channels/:name` / `teams/:name` answer. */
export type Channel = ChannelRecord & { memberCount: number };
export type Team = TeamRecord & { memberCount: number };

/** A group; lists of groups add `memberCount`. */
export type Group = GroupView & { memberCount?: number };

export type StepSummary = StepSummaryView;
export type RunStatus = RunView['status'];
export type RunProgress = NonNullable<RunView['progress']>;
/** A recorded run; the run detail adds its plan summary. */
export type Run = RunView & { planSummary?: StepSummary[] };
export type SyncSummary = SyncSummaryView;

export type AuditEntry = AuditEntryView;

/** What Test Connection answers (`POST /api/v1/admin/actions/test-connection`). */
export type TestConnectionReport = TestConnectionView;
/** Whether the bind account may write to one write-back DN (present only when the write-back writes). */
export type WriteAccess = NonNullable<NonNullable<TestConnectionReport['writeAccess']>['usersDn']>;

/** A write-back outbox row, pending or failed (`GET /api/v1/admin/writeback/outbox`), and a page of them. */
export type OutboxRow = OutboxRowView;
export type OutboxPage = OutboxPageView;
/** A write-back conflict (`GET /api/v1/admin/writeback/conflicts`), and a page of them. */
export type WriteBackConflict = WriteBackConflictView;
export type ConflictPage = ConflictPageView;
/** What a retry (`POST /api/v1/admin/writeback/retry`) answers: how many failed rows went back, and what the delivery did. */
export type RetryResult = RetryResultView;

/**
 * What a write-back action answers (`POST /api/v1/admin/users`, `users/:id/rename|delete|password`,
 * `groups…`): its outcome, each directory step with its status, and the conflicts it met.
 */
export type WriteActionResult = z.infer<typeof writeActionSchema>;
export type WriteStepReport = WriteActionResult['steps'][number];
export type WriteOutcome = WriteActionResult['outcome'];
/** A user action's result, with the user as it stands afterwards (absent once deleted or in a dry run). */
export type UserWriteResult = WriteActionResult & { user?: User };
/** A group action's result, with the group as it stands afterwards. */
export type GroupWriteResult = WriteActionResult & { group?: GroupView };
/** `settings.writeBack` as the settings document carries it. */
export type WriteBackSettings = ServerWriteBackSettings;

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
  /** Stored values the current rules refuse, each replaced by its default until the next save. */
  problems?: string[];
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
