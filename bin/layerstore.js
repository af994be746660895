#!/usr/bin/env node
// The CLI is compiled from src/cli by `npm ci` (the `prepare` script) or `npm run build`.
import '../dist/src/cli/main.js';
