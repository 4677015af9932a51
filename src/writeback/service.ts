/**
 * The write-back service the CLI, the admin API and the console call: every administrator's
 * change to users, groups, memberships and passwords, each through the same read→plan→guard→
 * apply pipeline (apply-write-plan.ts), with `isDryRun` to show the plan without changing anything.
 */
import type { UserRecord } from '../model/index.ts';
import type { ActionOptions } from './action-context.ts';
import type { WriteActionResult, WriteBackDeps } from './apply-write-plan.ts';
import { createGroup, deleteGroup, type GroupActionResult, renameGroup, setGroupMember } from './group-actions.ts';
import { changeOwnPassword, resetUserPassword } from './password-actions.ts';
import {
  createUser,
  deleteUser,
  moveUser,
  type NewDirectoryUser,
  renameUser,
  setUserEnabled,
  type UserActionResult,
  type UserFields,
  updateUser,
} from './user-actions.ts';

/** The actions, bound to the app's store, settings and directory. */
export interface WriteBackService {
  users: {
    create(input: NewDirectoryUser, options: ActionOptions): Promise<UserActionResult>;
    update(username: string, changes: UserFields, options: ActionOptions): Promise<UserActionResult>;
    rename(username: string, newUsername: string, options: ActionOptions): Promise<UserActionResult>;
    move(username: string, newParent: string, options: ActionOptions): Promise<UserActionResult>;
    setEnabled(username: string, enabled: boolean, options: ActionOptions & { reason?: string }): Promise<UserActionResult>;
    delete(username: string, options: ActionOptions): Promise<UserActionResult>;
    setPassword(username: string, password: string, options: ActionOptions): Promise<WriteActionResult>;
    changeOwnPassword(user: UserRecord, input: { oldPassword: string; newPassword: string; keepSessionId?: string }): Promise<void>;
  };
  groups: {
    create(name: string, options: ActionOptions): Promise<GroupActionResult>;
    rename(name: string, newName: string, options: ActionOptions): Promise<GroupActionResult>;
    delete(name: string, options: ActionOptions): Promise<GroupActionResult>;
    setMember(group: string, username: string, isMember: boolean, options: ActionOptions): Promise<GroupActionResult>;
  };
}

/** Binds the actions to `deps`. */
export function createWriteBackService(deps: WriteBackDeps): WriteBackService {
  return {
    users: {
      create: (input, options) => createUser(deps, input, options),
      update: (username, changes, options) => updateUser(deps, username, changes, options),
      rename: (username, newUsername, options) => renameUser(deps, username, newUsername, options),
      move: (username, newParent, options) => moveUser(deps, username, newParent, options),
      setEnabled: (username, enabled, options) => setUserEnabled(deps, username, enabled, options),
      delete: (username, options) => deleteUser(deps, username, options),
      setPassword: (username, password, options) => resetUserPassword(deps, username, password, options),
      changeOwnPassword: (user, input) => changeOwnPassword(deps, user, input),
    },
    groups: {
      create: (name, options) => createGroup(deps, name, options),
      rename: (name, newName, options) => renameGroup(deps, name, newName, options),
      delete: (name, options) => deleteGroup(deps, name, options),
      setMember: (group, username, isMember, options) => setGroupMember(deps, group, username, isMember, options),
    },
  };
}
