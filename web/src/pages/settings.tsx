/**
 * Settings, grouped as the seeds group them, each with its help text; the directory actions on
 * top. Saving sends the whole document with the version it was read at; the server's problems
 * appear next to their fields and every input keeps what the user typed.
 *
 * While the form holds unsaved changes, Test Connection and Test LDAP Search test the form's
 * values (nothing is saved). When a Connection setting (`directory.*`) changed, Save asks the
 * server to verify it first (`?verify=connection`): settings that cannot connect and bind are
 * refused with the reason, and "Save anyway" saves them unverified (for a planned outage).
 */
import type { JSX } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, api, messageOf } from '../api.ts';
import { ErrorBox, formatDate, Loading, PageHeader } from '../components.tsx';
import { type EditValue, fromEdit, getPath, problemsByField, type SecretEdit, sameEdit, setPath, toEdit } from '../settings-model.ts';
import { announceSettingsSaved } from '../settings-saved.ts';
import type { FormField, SettingsDocument, SettingsForm, SettingsVerification } from '../types.ts';
import { DirectoryActions } from './sync.tsx';

/** Whether a settings path belongs to the connection, which a save verifies first. */
function isDirectoryPath(path: string): boolean {
  return path.startsWith('directory.');
}

/** The outcome line of a verified save. */
function verificationNote(verification: SettingsVerification | undefined): string {
  if (verification?.status !== 'passed') return '';
  return ` The new connection settings were verified: connected to ${verification.url} and bound as ${verification.bindDn ?? 'anonymous'}.`;
}

interface Loaded {
  form: SettingsForm;
  document: SettingsDocument | null;
  documentError: unknown;
}

function editsOf(form: SettingsForm, document: SettingsDocument | null): Record<string, EditValue> {
  const edits: Record<string, EditValue> = {};
  for (const section of form.sections) for (const field of section.fields) edits[field.path] = toEdit(field, getPath(document?.settings, field.path));
  return edits;
}

export function SettingsPage(): JSX.Element {
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [loadError, setLoadError] = useState<unknown>(undefined);
  const [original, setOriginal] = useState<Record<string, EditValue>>({});
  const [edits, setEdits] = useState<Record<string, EditValue>>({});
  const [secrets, setSecrets] = useState<Record<string, SecretEdit>>({});
  const [fieldErrors, setFieldErrors] = useState<Record<string, string[]>>({});
  const [otherErrors, setOtherErrors] = useState<string[]>([]);
  /** What found the problems shown: a save, or a test of the unsaved values. */
  const [problemsFrom, setProblemsFrom] = useState<'save' | 'test'>('save');
  /** A verified save that was refused: why, so "Save anyway" can be offered. */
  const [refused, setRefused] = useState<ApiError | null>(null);
  const [saveError, setSaveError] = useState<unknown>(undefined);
  const [notice, setNotice] = useState<string | null>(null);
  const [isSaving, setSaving] = useState(false);

  const load = async () => {
    setLoadError(undefined);
    try {
      const form = await api<SettingsForm>('GET', '/api/v1/admin/settings/form');
      let document: SettingsDocument | null = null;
      let documentError: unknown;
      try {
        document = await api<SettingsDocument>('GET', '/api/v1/admin/settings');
      } catch (error) {
        documentError = error;
      }
      const initial = editsOf(form, document);
      setLoaded({ form, document, documentError });
      setOriginal(initial);
      setEdits(initial);
      setSecrets({});
      setFieldErrors({});
      setOtherErrors([]);
      setRefused(null);
    } catch (error) {
      setLoadError(error);
    }
  };

  useEffect(() => {
    void load();
  }, []);

  const fields = useMemo(() => loaded?.form.sections.flatMap((section) => section.fields) ?? [], [loaded]);
  const dirtyPaths = fields
    .filter((field) => (field.kind === 'secret' ? (secrets[field.path]?.mode ?? 'keep') !== 'keep' : !sameEdit(edits[field.path], original[field.path])))
    .map((field) => field.path);

  // After a refused save, bring the first field with a problem into view.
  useEffect(() => {
    if (Object.keys(fieldErrors).length === 0) return;
    window.document.querySelector('.field-row.has-error')?.scrollIntoView({ block: 'center' });
  }, [fieldErrors]);

  // Leaving the page with unsaved edits asks first.
  const hasUnsaved = dirtyPaths.length > 0;
  useEffect(() => {
    if (!hasUnsaved) return undefined;
    const warn = (event: BeforeUnloadEvent) => event.preventDefault();
    window.addEventListener('beforeunload', warn);
    return () => window.removeEventListener('beforeunload', warn);
  }, [hasUnsaved]);

  if (loadError !== undefined) return <ErrorBox error={loadError} title="The settings could not be loaded" />;
  if (loaded === null) return <Loading />;
  const { form, document } = loaded;

  /**
   * The whole document as a save sends it: the stored settings with the changed fields set
   * (a secret: set, cleared with null, or left out to keep it). Null when a value cannot be
   * converted; the field is then marked.
   */
  const buildDocument = (from: 'save' | 'test'): Record<string, unknown> | null => {
    if (document === null) return null;
    const local: Record<string, string[]> = {};
    const settings = structuredClone(document.settings);
    for (const field of fields) {
      if (!dirtyPaths.includes(field.path)) continue;
      if (field.kind === 'secret') {
        const secret = secrets[field.path];
        if (secret?.mode === 'set') setPath(settings, field.path, secret.value);
        else if (secret?.mode === 'clear') setPath(settings, field.path, null);
        continue;
      }
      const converted = fromEdit(field, edits[field.path] ?? '');
      if ('error' in converted) local[field.path] = [converted.error];
      else setPath(settings, field.path, converted.value);
    }
    if (Object.keys(local).length > 0) {
      setFieldErrors(local);
      setOtherErrors([]);
      setProblemsFrom(from);
      return null;
    }
    // Problems an earlier test found are stale once the values convert again.
    if (from === 'test' && problemsFrom === 'test') {
      setFieldErrors({});
      setOtherErrors([]);
    }
    return settings;
  };

  /** Shows the server's `settings.invalid` problems next to their fields. */
  const showProblems = (error: ApiError, from: 'save' | 'test') => {
    const split = problemsByField(
      error.problems,
      fields.map((field) => field.path),
    );
    setFieldErrors(split.byField);
    setOtherErrors(split.other.length === 0 && Object.keys(split.byField).length === 0 ? [error.message] : split.other);
    setProblemsFrom(from);
  };

  const changesDirectory = dirtyPaths.some(isDirectoryPath);

  /** Saves; verifies changed connection settings first unless `verify` is false ("Save anyway"). */
  const save = async (options: { verify: boolean }) => {
    if (document === null) return;
    setSaving(true);
    setNotice(null);
    setSaveError(undefined);
    setRefused(null);
    const settings = buildDocument('save');
    if (settings === null) {
      setSaving(false);
      return;
    }
    const verify = options.verify && changesDirectory;
    try {
      const saved = await api<SettingsDocument>('PUT', `/api/v1/admin/settings${verify ? '?verify=connection' : ''}`, { version: document.version, settings });
      const refreshed = editsOf(form, saved);
      setLoaded({ form, document: saved, documentError: undefined });
      announceSettingsSaved(saved.settings);
      setOriginal(refreshed);
      setEdits(refreshed);
      setSecrets({});
      setFieldErrors({});
      setOtherErrors([]);
      setNotice(
        `Settings saved as version ${saved.version}${saved.changed === undefined || saved.changed.length === 0 ? '' : `: ${saved.changed.join(', ')}`}.` +
          (verificationNote(saved.verification) || (changesDirectory && !verify ? ' The connection settings were saved without verification.' : '')),
      );
    } catch (error) {
      if (error instanceof ApiError && error.code === 'settings.invalid') {
        showProblems(error, 'save');
      } else if (error instanceof ApiError && error.code === 'settings.verification_failed') {
        setFieldErrors({});
        setOtherErrors([]);
        setRefused(error);
      } else {
        setFieldErrors({});
        setOtherErrors([]);
        setSaveError(error);
      }
    } finally {
      setSaving(false);
    }
  };

  const discard = () => {
    setEdits(original);
    setSecrets({});
    setFieldErrors({});
    setOtherErrors([]);
    setSaveError(undefined);
    setRefused(null);
  };

  const refusedVerification = refused?.details['verification'] as SettingsVerification | undefined;

  const errorCount = Object.keys(fieldErrors).length + otherErrors.length;
  return (
    <div class="settings-page">
      <PageHeader
        title="Settings"
        subtitle={
          document === null ? (
            'The stored settings could not be read.'
          ) : (
            <>
              Version {document.version}
              {document.updatedAt === null
                ? ' · not changed since start-up'
                : ` · saved ${formatDate(document.updatedAt)}${document.updatedBy === null ? '' : ` by ${document.updatedBy}`}`}
            </>
          )
        }
      >
        <button type="button" class="btn btn-ghost" onClick={discard} disabled={dirtyPaths.length === 0 || isSaving}>
          Discard changes
        </button>
        <button
          type="button"
          class="btn btn-primary"
          onClick={() => void save({ verify: true })}
          disabled={document === null || isSaving}
          data-testid="save-settings"
          title={changesDirectory ? 'The changed connection settings are tested first: they are saved only if they connect and bind' : undefined}
        >
          {isSaving
            ? changesDirectory
              ? 'Verifying and saving…'
              : 'Saving…'
            : dirtyPaths.length === 0
              ? 'Save'
              : `Save ${dirtyPaths.length} change${dirtyPaths.length === 1 ? '' : 's'}`}
        </button>
      </PageHeader>
      <DirectoryActions
        unsaved={{
          count: dirtyPaths.length,
          build: () => buildDocument('test'),
          onInvalid: (error) => showProblems(error, 'test'),
        }}
      />
      {refused === null ? null : (
        <div class="alert alert-error" role="alert" data-testid="settings-verification-failed">
          <strong>The settings were not saved:</strong> the new connection settings could not connect and bind
          {refusedVerification?.status === 'failed' ? (
            <>
              {' '}
              ({refusedVerification.paths.join(', ')} changed): {refusedVerification.error.message} (<code>{refusedVerification.error.code}</code>).
            </>
          ) : (
            <>: {messageOf(refused)}.</>
          )}{' '}
          Saved, they would cut every instance off the directory within seconds, so nothing was changed.
          <div class="button-row verification-actions">
            <button type="button" class="btn btn-small" onClick={() => setRefused(null)}>
              Keep editing
            </button>
            <button type="button" class="btn btn-small btn-danger" onClick={() => void save({ verify: false })} disabled={isSaving} data-testid="save-anyway">
              Save anyway, without verifying
            </button>
            <span class="muted small">Only for a planned outage: logins of directory users fail until the directory accepts these settings.</span>
          </div>
        </div>
      )}
      {loaded.documentError === undefined ? null : <ErrorBox error={loaded.documentError} title="The stored settings could not be read" />}
      {document === null || (document.problems ?? []).length === 0 ? null : (
        <div class="alert alert-warn" role="status" data-testid="settings-stored-problems">
          <strong>The saved settings hold values this version refuses.</strong> Each is replaced by its default (shown below) until you save the settings:
          <ul>
            {(document.problems ?? []).map((problem) => (
              <li key={problem}>{problem}</li>
            ))}
          </ul>
        </div>
      )}
      {notice === null ? null : (
        <div class="alert alert-success" role="status" data-testid="settings-saved">
          {notice}
        </div>
      )}
      {saveError === undefined ? null : saveError instanceof ApiError && saveError.code === 'settings.conflict' ? (
        <div class="alert alert-error" role="alert" data-testid="settings-conflict">
          Someone else saved the settings since you opened them.{' '}
          <button type="button" class="btn btn-small" onClick={() => void load()}>
            Reload the settings
          </button>{' '}
          (your changes here will be lost) and make them again.
        </div>
      ) : (
        <ErrorBox error={saveError} title="The settings were not saved" />
      )}
      {errorCount === 0 ? null : (
        <div class="alert alert-error" role="alert" data-testid="settings-invalid">
          <strong>{problemsFrom === 'test' ? 'The unsaved settings cannot be tested:' : 'The settings were not saved:'}</strong> fix the{' '}
          {errorCount === 1 ? 'problem' : `${errorCount} problems`} marked below.
          {otherErrors.length === 0 ? null : (
            <ul>
              {otherErrors.map((problem) => (
                <li key={problem}>{problem}</li>
              ))}
            </ul>
          )}
        </div>
      )}
      <div class="settings-layout">
        <nav class="section-index" aria-label="Settings sections">
          {form.sections.map((section) => {
            const errors = section.fields.filter((field) => fieldErrors[field.path] !== undefined).length;
            const changed = section.fields.filter((field) => dirtyPaths.includes(field.path)).length;
            return (
              <a
                key={section.id}
                href={`#section-${section.id}`}
                class="section-link"
                onClick={(event) => {
                  event.preventDefault();
                  window.document.getElementById(`section-${section.id}`)?.scrollIntoView({ behavior: 'smooth', block: 'start' });
                }}
              >
                <span>{section.title}</span>
                {errors > 0 ? (
                  <span class="dot dot-error" title={`${errors} with problems`}>
                    {errors}
                  </span>
                ) : changed > 0 ? (
                  <span class="dot dot-changed" title={`${changed} changed`}>
                    {changed}
                  </span>
                ) : null}
              </a>
            );
          })}
        </nav>
        <div class="sections">
          {form.sections.map((section) => (
            <section class="card settings-section" id={`section-${section.id}`} key={section.id} data-testid={`section-${section.id}`}>
              <div class="card-header">
                <div>
                  <h2>{section.title}</h2>
                  <p class="muted small">{section.description}</p>
                </div>
              </div>
              {section.fields.map((field) => (
                <FieldRow
                  key={field.path}
                  field={field}
                  value={edits[field.path] ?? ''}
                  isChanged={dirtyPaths.includes(field.path)}
                  errors={fieldErrors[field.path]}
                  secret={secrets[field.path] ?? { mode: 'keep', value: '' }}
                  isSecretSet={document?.secrets[field.path]?.isSet ?? false}
                  onChange={(value) => setEdits((current) => ({ ...current, [field.path]: value }))}
                  onSecret={(secret) => setSecrets((current) => ({ ...current, [field.path]: secret }))}
                />
              ))}
            </section>
          ))}
        </div>
      </div>
    </div>
  );
}

function defaultText(field: FormField): string | null {
  if (field.defaultValue === undefined) return null;
  if (typeof field.defaultValue === 'string' && field.optionLabels?.[field.defaultValue] !== undefined) return field.optionLabels[field.defaultValue] ?? null;
  if (Array.isArray(field.defaultValue)) return field.defaultValue.length === 0 ? 'none' : field.defaultValue.join(', ');
  if (typeof field.defaultValue === 'object' && field.defaultValue !== null)
    return Object.keys(field.defaultValue).length === 0 ? 'empty' : JSON.stringify(field.defaultValue);
  return String(field.defaultValue);
}

function FieldRow(props: {
  field: FormField;
  value: EditValue;
  isChanged: boolean;
  errors: string[] | undefined;
  secret: SecretEdit;
  isSecretSet: boolean;
  onChange: (value: EditValue) => void;
  onSecret: (secret: SecretEdit) => void;
}): JSX.Element {
  const { field, value, errors } = props;
  const id = `setting-${field.path.replace(/\./g, '-')}`;
  const hasError = errors !== undefined && errors.length > 0;
  const fallback = defaultText(field);
  const hint = [
    field.kind === 'boolean' || fallback === null ? null : `Default: ${fallback}`,
    field.min !== undefined && field.max !== undefined
      ? `Range: ${field.min}–${field.max}`
      : field.min !== undefined
        ? `Minimum: ${field.min}`
        : field.max !== undefined
          ? `Maximum: ${field.max}`
          : null,
    field.isOptional && field.kind !== 'boolean' ? 'Optional' : null,
  ].filter((part): part is string => part !== null);
  const describedBy = `${id}-help${hasError ? ` ${id}-error` : ''}`;
  const common = {
    id,
    name: field.path,
    'aria-describedby': describedBy,
    'aria-invalid': hasError ? 'true' : undefined,
    class: hasError ? 'invalid' : undefined,
  } as const;

  let input: JSX.Element;
  switch (field.kind) {
    case 'boolean':
      input = (
        <label class="switch">
          <input type="checkbox" {...common} checked={value === true} onChange={(event) => props.onChange(event.currentTarget.checked)} />
          <span class="switch-track" aria-hidden="true" />
          <span class="switch-label">{value === true ? 'On' : 'Off'}</span>
        </label>
      );
      break;
    case 'enum':
      input = (
        <select {...common} value={typeof value === 'string' ? value : ''} onChange={(event) => props.onChange(event.currentTarget.value)}>
          {field.isOptional || field.defaultValue === undefined ? <option value="">(not set)</option> : null}
          {(field.options ?? []).map((option) => (
            <option key={option} value={option}>
              {field.optionLabels?.[option] ?? option}
            </option>
          ))}
        </select>
      );
      break;
    case 'list':
      input =
        field.options !== undefined ? (
          // biome-ignore lint/a11y/useSemanticElements: a fieldset's default border and legend layout do not fit the settings grid; role=group has the same meaning
          <div class="checkbox-group" id={id} role="group" aria-describedby={describedBy}>
            {field.options.map((option) => (
              <label key={option} class="checkbox">
                <input
                  type="checkbox"
                  name={field.path}
                  value={option}
                  checked={Array.isArray(value) && value.includes(option)}
                  onChange={(event) => {
                    const current = Array.isArray(value) ? value : [];
                    const next = event.currentTarget.checked ? [...current, option] : current.filter((item) => item !== option);
                    props.onChange(field.options?.filter((item) => next.includes(item)) ?? next);
                  }}
                />
                {option}
              </label>
            ))}
          </div>
        ) : (
          <textarea
            {...common}
            rows={Math.min(6, Math.max(2, String(value).split('\n').length + 1))}
            value={String(value)}
            placeholder={field.placeholder}
            spellcheck={false}
            onInput={(event) => props.onChange(event.currentTarget.value)}
          />
        );
      break;
    case 'map':
    case 'json':
      input = (
        <textarea
          {...common}
          class={`code ${hasError ? 'invalid' : ''}`}
          rows={Math.min(10, Math.max(3, String(value).split('\n').length + 1))}
          value={String(value)}
          placeholder='{"group": "name"}'
          spellcheck={false}
          onInput={(event) => props.onChange(event.currentTarget.value)}
        />
      );
      break;
    case 'secret':
      input = (
        <div class="secret">
          <div class="secret-state">
            {props.secret.mode === 'clear' ? (
              <span class="badge badge-warn">Will be cleared</span>
            ) : props.isSecretSet ? (
              <span class="badge badge-good">Set</span>
            ) : (
              <span class="badge">Not set</span>
            )}
            {props.isSecretSet && props.secret.mode !== 'clear' ? (
              <button type="button" class="btn btn-small btn-ghost" onClick={() => props.onSecret({ mode: 'clear', value: '' })}>
                Clear
              </button>
            ) : null}
            {props.secret.mode !== 'keep' ? (
              <button type="button" class="btn btn-small btn-ghost" onClick={() => props.onSecret({ mode: 'keep', value: '' })}>
                Keep current
              </button>
            ) : null}
          </div>
          <input
            type="password"
            {...common}
            autoComplete="new-password"
            value={props.secret.mode === 'set' ? props.secret.value : ''}
            placeholder={props.isSecretSet ? 'Type to replace the stored password' : 'Type to set a password'}
            onInput={(event) => {
              const text = event.currentTarget.value;
              props.onSecret(text === '' ? { mode: 'keep', value: '' } : { mode: 'set', value: text });
            }}
          />
        </div>
      );
      break;
    default:
      input = (
        <input
          type="text"
          inputMode={field.kind === 'integer' ? 'numeric' : field.kind === 'number' ? 'decimal' : undefined}
          {...common}
          value={String(value)}
          maxLength={field.maxLength}
          placeholder={field.placeholder ?? (fallback === null ? undefined : fallback)}
          spellcheck={false}
          onInput={(event) => props.onChange(event.currentTarget.value)}
        />
      );
  }

  return (
    <div class={`field-row ${hasError ? 'has-error' : ''} ${props.isChanged ? 'is-changed' : ''}`} data-path={field.path} data-testid={`field-${field.path}`}>
      <div class="field-text">
        <label for={id} class="field-label">
          {field.label}
          {props.isChanged ? (
            <span class="changed-mark" title="changed, not saved yet">
              {' '}
              •
            </span>
          ) : null}
        </label>
        <p class="field-help" id={`${id}-help`}>
          {field.help}
        </p>
        <code class="field-path">{field.path}</code>
      </div>
      <div class="field-input">
        {input}
        {hint.length === 0 ? null : <p class="field-hint">{hint.join(' · ')}</p>}
        {hasError ? (
          <p class="field-error" id={`${id}-error`} role="alert" data-testid="field-error">
            {errors.join('; ')}
          </p>
        ) : null}
      </div>
    </div>
  );
}
