/**
 * The set-up most test files share: a temp directory for the file, the generated fixture
 * images in DIR/fx (fixtures/generate.ts), the CLI built, and the directory removed after
 * the file's tests. `use` receives the paths once they exist (in beforeAll).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { generateFixtures } from '../../fixtures/generate.js';
import { ensureBuilt } from './cli.js';

export function withFixtureTemp(prefix: string, use: (paths: { tmp: string; fx: string }) => void): void {
  let tmp = '';
  beforeAll(async () => {
    ensureBuilt();
    tmp = mkdtempSync(path.join(tmpdir(), prefix));
    const fx = path.join(tmp, 'fx');
    await generateFixtures(fx);
    use({ tmp, fx });
  }, 60_000);
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });
}
