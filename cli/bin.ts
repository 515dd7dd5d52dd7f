#!/usr/bin/env node
// Entry point of the `bottle` command. It exits explicitly: a plugin's stray
// timer must not keep a finished `bottle` alive (stdout is synchronous for
// files and pipes on Linux, so nothing written is lost).
import module from 'node:module';

// Compiled code is cached on disk: every `bottle run` starts faster after the first.
module.enableCompileCache?.();
// A closed terminal (SIGHUP: the SSH session or tmux window went away) makes
// writes to it fail with EIO. That must never kill `bottle` before its
// teardown has run: what cannot be shown is dropped.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
const { main } = await import('./main.ts');
process.exit(await main(process.argv.slice(2)));
