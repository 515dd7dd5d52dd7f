#!/usr/bin/env node
// Entry point of the `bottle` command. It exits explicitly: a plugin's stray
// timer must not keep a finished `bottle` alive (stdout is synchronous for
// files and pipes on Linux, so nothing written is lost).
import module from 'node:module';

// Compiled code is cached on disk: every `bottle run` starts faster after the first.
module.enableCompileCache?.();
const { main } = await import('./main.ts');
process.exit(await main(process.argv.slice(2)));
