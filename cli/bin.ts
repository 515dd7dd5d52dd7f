#!/usr/bin/env node
// Entry point of the `bottle` command. It exits explicitly: a plugin's stray
// timer must not keep a finished `bottle` alive (stdout is synchronous for
// files and pipes on Linux, so nothing written is lost).
import { main } from './main.ts';

process.exit(await main(process.argv.slice(2)));
