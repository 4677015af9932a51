/** Runs a job on a cron schedule, never overlapping itself, and reports each run. */
import { Cron } from 'croner';

/** A scheduled job that can be stopped. */
export interface ScheduledJob {
  name: string;
  /** When the job runs next, or null when stopped. */
  nextRun(): Date | null;
  stop(): void;
}

/** Starts `run` on `schedule` (cron syntax); a run still going when the next is due is skipped. */
export function scheduleJob(options: {
  name: string;
  schedule: string;
  run: () => Promise<void>;
  onError: (error: unknown) => void;
}): ScheduledJob {
  const cron = new Cron(options.schedule, { name: options.name, protect: true, catch: options.onError }, async () => {
    await options.run();
  });
  return { name: options.name, nextRun: () => cron.nextRun(), stop: () => cron.stop() };
}
