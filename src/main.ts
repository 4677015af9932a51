/** Entry point of the `dirbridge` command. */
import { runCli } from './cli/program.ts';
import { processOutput } from './cli/output.ts';

process.exitCode = await runCli(process.argv.slice(2), processOutput());
