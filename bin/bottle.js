#!/usr/bin/env node
// The published entry: the bundled CLI (scripts/bundle.mjs), built JavaScript
// (Node does not strip types under node_modules).
import '../dist/cli-bundle/bin.js';
