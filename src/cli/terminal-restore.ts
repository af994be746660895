/**
 * What is drawn on the terminal now (a progress bar hides the cursor and turns line wrap off
 * until it stops). Every way out takes it down first: a command's own end, an error (main.ts),
 * a signal (interrupt.ts), and any process exit (the 'exit' hook), so the terminal is left as
 * it was found and what is written next starts on a line of its own.
 */
export interface Drawn {
  /** Take it off the terminal (cursor shown, line wrap on, its line cleared); final. */
  stop(): void;
}

const drawn = new Set<Drawn>();
let hooked = false;

/** `d` is on the terminal until undrawn(d). */
export function drawing(d: Drawn): void {
  drawn.add(d);
  if (hooked) return;
  hooked = true;
  // process.exit and uncaught errors end the process without the command's own stop.
  process.once('exit', restoreTerminal);
}

export function undrawn(d: Drawn): void {
  drawn.delete(d);
}

/** Take down everything drawn: call before writing a message that ends the command. */
export function restoreTerminal(): void {
  for (const d of [...drawn]) d.stop();
}
