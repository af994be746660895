import type { Command } from 'commander';

/**
 * How the argument parser's (commander's) own output reads. A usage error looks like every
 * other error, one line ending in its code, then where the help of the command it is about
 * is:
 *
 *   layerstore: error: unknown command 'injest' (did you mean ingest?) [E_USAGE]
 *   (run layerstore --help for usage)
 *
 * What commander writes to stderr is held until the parse is over: given no command at all,
 * it prints the help there as an error, which main.ts shows on stdout instead (as docker
 * does), and only then is it known which of the two it was.
 */
export class ParserOutput {
  private held = '';

  /** For Command.configureOutput, on the program before its commands are made (they inherit it). */
  readonly config = {
    writeErr: (s: string): void => {
      this.held += s;
    },
    outputError: (s: string, write: (s: string) => void): void => write(usageErrorLine(s)),
  };

  /** Write what was held to stderr. */
  flush(): void {
    process.stderr.write(this.held);
    this.held = '';
  }

  /** Forget what was held (the help, shown on stdout instead). */
  drop(): void {
    this.held = '';
  }
}

/** commander's "error: unknown command 'injest'\n(Did you mean ingest?)" as one line with the code. */
export function usageErrorLine(message: string): string {
  const line = message
    .trim()
    .replace(/\s*\n\s*/g, ' ')
    .replace(/\(Did you mean/g, '(did you mean')
    .replace(/\.$/, '');
  return `layerstore: ${line} [E_USAGE]\n`;
}

/** After a usage error, the line naming the help of the command it is about: "(run layerstore ingest --help for usage)". */
export function pointToHelp(cmd: Command): void {
  const name = cmd.parent ? `${cmd.parent.name()} ${cmd.name()}` : cmd.name();
  cmd.showHelpAfterError(`(run ${name} --help for usage)`);
}
