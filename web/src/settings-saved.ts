/** Tells the rest of the console that settings were saved (the navigation shows Write-back only while it is on). */

const EVENT = 'dirbridge:settings-saved';

/** Announces the settings just saved. */
export function announceSettingsSaved(settings: Record<string, unknown>): void {
  window.dispatchEvent(new CustomEvent<Record<string, unknown>>(EVENT, { detail: settings }));
}

/** Calls `listener` with the settings after each save; returns the function that stops it. */
export function onSettingsSaved(listener: (settings: Record<string, unknown>) => void): () => void {
  const handler = (event: Event) => listener((event as CustomEvent<Record<string, unknown>>).detail);
  window.addEventListener(EVENT, handler);
  return () => window.removeEventListener(EVENT, handler);
}

/** Whether `settings.writeBack.enabled` is on in a settings document as the API sends it. */
export function isWriteBackEnabled(settings: Record<string, unknown>): boolean {
  const writeBack = settings['writeBack'];
  return typeof writeBack === 'object' && writeBack !== null && (writeBack as Record<string, unknown>)['enabled'] === true;
}
