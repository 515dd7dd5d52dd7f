#!/usr/bin/env node
// The published entry: built JavaScript (Node does not strip types under node_modules).
import '../dist/cli/bin.js';
