/**
 * What an EPIPE on standard output means (main.ts): by default the reader stopped early and
 * the command ends quietly, as Unix tools do. A command that changes the store sets `finish`
 * (finishOnClosedOutput): ending it halfway would leave inputs not ingested behind an exit
 * code of 0, so it goes on to the end with its output dropped.
 */
export const closedOutput = { finish: false };

export function finishOnClosedOutput(): void {
  closedOutput.finish = true;
}
