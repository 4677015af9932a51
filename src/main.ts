/** Entry point of the `dirbridge` command. */
import { installLastResortHandlers } from './cli/last-resort.ts';
import { processOutput } from './cli/output.ts';
import { runCli } from './cli/program.ts';

installLastResortHandlers(process, processOutput());
process.exitCode = await runCli(process.argv.slice(2), processOutput());
