/** Entry point of the `dirbridge` command. */
import { installLastResortHandlers } from './cli/last-resort.ts';
import { runCli } from './cli/program.ts';
import { processOutput } from './cli/output.ts';

installLastResortHandlers(process, processOutput());
process.exitCode = await runCli(process.argv.slice(2), processOutput());
