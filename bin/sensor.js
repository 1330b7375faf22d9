#!/usr/bin/env node
// The `sensor` command. The TypeScript sources are compiled into dist/ by
// scripts/build.sh (npm start / npm test run it when anything is stale).
import { main } from '../dist/sensor/cli/main.js';

main(process.argv).catch((err) => {
  process.stderr.write(`sensor: ${err && err.message ? err.message : String(err)}\n`);
  process.exit(err && typeof err.exitCode === 'number' ? err.exitCode : 1);
});
