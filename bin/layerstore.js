#!/usr/bin/env node
// The CLI is compiled from src/cli by `npm ci` (the `prepare` script) or `npm run build`:
// tsc into dist/src, then scripts/bundle-cli.mjs joins it into dist/bundle (a faster start).
import '../dist/bundle/cli/main.js';
