#!/usr/bin/env node
// Entry point of the `bottle` command.
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
