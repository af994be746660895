/**
 * The rule every test that needs a real peer goes through (test/helpers/peers.ts): a missing
 * peer fails the run under CI=true and is a visible skip elsewhere, never a silent pass.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { commands } from '../helpers/peers.js';

const saved = process.env.CI;
afterEach(() => {
  if (saved === undefined) delete process.env.CI;
  else process.env.CI = saved;
  vi.restoreAllMocks();
});

describe('a missing peer', () => {
  it('fails under CI=true, naming what to install', () => {
    process.env.CI = 'true';
    expect(() => commands([['no-such-command-xyz', 'some-package']])).toThrow(
      /no-such-command-xyz is missing \(apt-get install some-package\): under CI=true a test that cannot run fails/,
    );
  });
  it('is a visible skip outside CI', () => {
    delete process.env.CI;
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect(commands([['no-such-command-xyz', 'some-package']])).toBe(false);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^SKIPPED: no-such-command-xyz is missing/));
  });
  it('a present one is simply there, in CI or not', () => {
    process.env.CI = 'true';
    expect(commands([['sh', 'dash']])).toBe(true);
  });
});
