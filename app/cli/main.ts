#!/usr/bin/env node
/** Entry point of the `tollgate` command (bin/tollgate.js imports the compiled copy). */
import { longRunningCommands, runCli } from './program.js';

const code = await runCli(process.argv);
const command = process.argv.slice(2).find((a) => !a.startsWith('-'));
// One-shot commands exit now, even if a client library left a timer or socket behind.
if (code !== 0 || !command || !longRunningCommands.includes(command)) process.exit(code);
