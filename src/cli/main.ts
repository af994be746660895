import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { isLayerstoreError, LayerstoreError } from '../errors.js';
import { defaultStoreDir } from '../store/default-location.js';
import type { GlobalOptions } from './context.js';
import { printError } from './errors-out.js';
import { closedOutput } from './closed-output.js';
import { restoreTerminal } from './terminal-restore.js';
import { ParserOutput, pointToHelp } from './parser-output.js';
import { keepYoungGenerationSmall } from '../util/young-generation.js';

/**
 * Exit codes (README, "Exit codes"): 0 ok; 1 a budget or check failed; 2 bad usage or bad
 * input; 3 the store is damaged; 4 a registry report that does not cover every tag
 * (cli/registry-report.ts).
 */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export const EXIT = { ok: 0, failed: 1, badInput: 2, damaged: 3 } as const;

function exitCodeFor(e: unknown): number {
  if (isLayerstoreError(e) && e.code === 'E_STORE_INVALID') return EXIT.damaged;
  return EXIT.badInput;
}

/** An option value that must be a whole number of at least `min` (kept as the string typed). */
const wholeNumber =
  (min: number) =>
  (v: string): string => {
    if (!/^\d+$/.test(v) || Number(v) < min)
      throw new InvalidArgumentError(`${JSON.stringify(v)} is not a whole number${min > 0 ? ` of at least ${min}` : ''}.`);
    return v;
  };

/** Where the engines answer: the commands that take docker-daemon:, containerd: or containers-storage: images. */
const ENGINE_COMMANDS = ['ingest', 'report', 'diff', 'budget'];
const engineOptions = (): Option[] => [
  new Option(
    '--engine-socket <path>',
    'Docker Engine API socket for docker-daemon: (default $DOCKER_HOST, else /var/run/docker.sock; podman system service works too)',
  ),
  new Option(
    '--containerd-socket <path>',
    "containerd's socket for containerd:[NAMESPACE/]NAME (default $CONTAINERD_ADDRESS, else /run/containerd/containerd.sock)",
  ),
  new Option(
    '--storage-root <dir>',
    "the containers/storage graphroot for containers-storage:NAME (podman --root; default from storage.conf, else podman's default)",
  ),
  new Option(
    '--storage-driver <driver>',
    'vfs or overlay, for containers-storage:NAME (podman --storage-driver; default from storage.conf, else what the root holds)',
  ),
];

// Each command's module is imported when the command runs, not at start-up: a CLI run pays
// only for what it uses (loading every command cost ~0.15-0.3 s of CPU per run, bench/).
export async function main(argv: string[]): Promise<number> {
  keepYoungGenerationSmall();
  let code: number = EXIT.ok;
  const parserOutput = new ParserOutput();
  const program = new Command('layerstore');
  program
    .description('Content-addressed store for container image tarballs, with cross-image layer sharing reports.')
    .version(packageVersion())
    .addOption(new Option('--store <dir>', `store directory (default: $LAYERSTORE_STORE or ${defaultStoreDir()})`))
    .option('-q, --quiet', 'no progress or notes on stderr')
    .option('--debug', 'print stack traces with errors')
    // Usage errors look like every other error: one "layerstore: error: ... [E_USAGE]" line.
    .configureOutput(parserOutput.config)
    .helpCommand(false) // our own `help` below: an unknown NAME is an error there
    .exitOverride();

  const globals = (cmd: Command): GlobalOptions => cmd.optsWithGlobals() as GlobalOptions;
  // commander calls an action with (args..., options, command); hand on the options with the globals merged in.
  // biome-ignore lint/suspicious/noExplicitAny: commander hands each action its own arguments; the command functions type them
  type Action = (...args: any[]) => Promise<number>;
  const run =
    (fn: Action) =>
    async (...args: unknown[]) => {
      const cmd = args[args.length - 1] as Command;
      try {
        code = await fn(...args.slice(0, -2), globals(cmd));
      } catch (e) {
        restoreTerminal(); // a bar the error cut short: the message on its own line, the terminal as it was
        printError(e, globals(cmd));
        code = exitCodeFor(e);
      }
    };

  program
    .command('ingest')
    .description("ingest image tarballs (docker save, oci-archive; gzip/zstd too), OCI layout directories, skopeo's dir: directories, or globs of them")
    .argument(
      '<path...>',
      "tarballs, OCI layout directories, dir: directories (skopeo copy IMAGE dir:D; untagged unless --tag), glob patterns, - (standard input), docker-daemon:NAME[:TAG] (docker-daemon: alone: every image of the engine), containerd:[NAMESPACE/]NAME[:TAG], or containers-storage:[DRIVER@ROOT+RUNROOT]NAME[:TAG] (podman's store, read in place)",
    )
    .option('--json', 'print results as JSON')
    .option('--verify-input', 'read and hash every blob of the input, even one the store already holds under the digest the input names')
    .option('--tag <repo[:tag]>', "also give the input's one image this ref (e.g. an untagged archive, or an OCI layout whose ref is a bare name)")
    .option(
      '--repo <name>',
      'the repository for bare OCI ref names (a layout\'s "v1" is stored as NAME:v1; default: the input\'s file or directory name, e.g. api-layout)',
    )
    .action(run(async (paths: string[], opts) => (await import('./ingest-command.js')).ingestCommand(paths, opts)));

  program
    .command('ls')
    .description('list the images in the store')
    .option('--json', 'print as JSON')
    .option(
      '--format <format>',
      "table (default), json, or a template per row: '{{.Ref}}\\t{{.Size}}' (fields .Ref .ImageID .Manifest .Platform .Layers .Size .SizeBytes .ConfigDigest .ManifestDigest .Created; {{json .}})",
    )
    .option('--no-trunc', 'whole refs and digests (on a terminal, refs longer than 48 characters are cut)')
    .action(run(async (opts) => (await import('./ls-command.js')).lsCommand(opts)));

  program
    .command('report')
    .description('cross-image layer sharing and storage savings, for all images or those named')
    .argument(
      '[ref...]',
      "refs, image IDs or manifest digests (default: every image); docker-daemon:NAME, docker-daemon: (the engine's disk report) containerd:NAME or containers-storage:NAME are ingested into the store first",
    )
    .option('--json', 'print the versioned JSON report (schemaVersion 1)')
    .option('--all-layers', 'list every layer, not only the top 20')
    .option(
      '--format <format>',
      "table (default), json, or a template per image: '{{.Ref}}\\t{{.Unique}}' (fields .Ref .Refs .ImageID .Platform .Layers .Size .Shared .Unique .SizeBytes .SharedBytes .UniqueBytes .ManifestDigest; {{json .}})",
    )
    .option('--no-trunc', 'whole refs (on a terminal, refs longer than 48 characters are cut)')
    .option('--files', 'look inside the layers: savings ledger (blob, diffID, file), waste per image, duplicate files')
    .addOption(new Option('--top <n>', 'how many wasted and duplicate files to list (default 10)').argParser(wholeNumber(0)))
    .option('--html <file>', 'write the report (with the --files data) as one self-contained HTML page, charts included')
    .option('--registry <url>', 'report on a whole registry (catalog, tags, manifests; no layer downloads) instead of the store')
    .option('--repo <pattern>', 'with --registry: only repositories matching this glob')
    .addOption(new Option('--concurrency <n>', 'with --registry: requests in flight (default 8)').argParser(wholeNumber(1)))
    .option('--timeout <seconds>', 'with --registry: give up on a request after this long, retries aside (default 30)')
    .option('--max-time <seconds>', 'with --registry: stop the scan after this long and report what was read (exit 4)')
    .option('--insecure', 'with --registry: plain http off loopback')
    .option('--username <user>', 'with --registry: registry user')
    .option('--password <password>', 'with --registry: registry password')
    .action(
      run(async (refs: string[], opts) => {
        (await import('./report-options.js')).checkReportOptions(refs, opts);
        return opts.registry
          ? (await import('./registry-report.js')).registryReportCommand(opts.registry, opts)
          : (await import('./report-command.js')).reportCommand(refs, opts);
      }),
    );

  program
    .command('pull')
    .description('pull an image (all platforms, or --platform) from a registry into the store, verifying every blob')
    .argument('<ref>', 'REGISTRY/NAME[:TAG|@DIGEST], e.g. localhost:5000/acme/api:1.0')
    .option('--platform <os/arch[/variant]>', 'pull only this platform of a multi-platform image')
    .option('--insecure', 'plain http off loopback (like Docker insecure-registries)')
    .option('--username <user>', 'registry user (else LAYERSTORE_USERNAME, else ~/.docker/config.json)')
    .option('--password <password>', 'registry password (else LAYERSTORE_PASSWORD)')
    .option('--timeout <seconds>', 'give up on a request after this long without a byte, retries aside (default 30)')
    .option('--json', 'print the result as JSON')
    .action(run(async (ref: string, opts) => (await import('./pull-push-commands.js')).pullCommand(ref, opts)));

  program
    .command('push')
    .description('push a ref of the store to a registry, sending only the blobs it lacks')
    .argument('<ref>', 'ref, image ID or manifest digest in the store')
    .argument('<dest>', 'REGISTRY/NAME:TAG, or REGISTRY/NAME@DIGEST with the source manifest digest')
    .option('--mount-from <repo...>', 'repositories of the same registry to mount blobs from instead of sending them')
    .option('--insecure', 'plain http off loopback (like Docker insecure-registries)')
    .option('--username <user>', 'registry user (else LAYERSTORE_USERNAME, else ~/.docker/config.json)')
    .option('--password <password>', 'registry password (else LAYERSTORE_PASSWORD)')
    .option('--timeout <seconds>', 'give up on a request after this long without a byte, retries aside (default 30)')
    .option('--json', 'print the result as JSON')
    .action(run(async (ref: string, dest: string, opts) => (await import('./pull-push-commands.js')).pushCommand(ref, dest, opts)));

  program
    .command('diff')
    .description('layers and files added, removed and changed between two images')
    .argument('<a>', 'ref, image ID or manifest digest, or docker-daemon:NAME / containerd:NAME / containers-storage:NAME (ingested first)')
    .argument(
      '<b>',
      'ref, image ID or manifest digest, or docker-daemon:NAME / containerd:NAME / containers-storage:NAME (ingested first), or container:NAME: what docker commit NAME would add on top of A',
    )
    .option('--json', 'print the diff as JSON')
    .option('--all', 'list every changed file, not only the 30 largest')
    .action(run(async (a: string, b: string, opts) => (await import('./diff-command.js')).diffCommand(a, b, opts)));

  program
    .command('budget')
    .description('check size budgets (layerstore-budget.json); tarballs given are ingested first. Exit 0 pass, 1 fail, 2 bad input')
    .argument(
      '[ref-or-tarball...]',
      'refs in the store, or tarballs / layout directories / docker-daemon:NAME / containerd:NAME / containers-storage:NAME to ingest and check (default: every image)',
    )
    .option('--config <file>', 'budget file (default ./layerstore-budget.json)')
    .option('--baseline <file>', 'a report --json from an earlier run, for maxGrowth')
    .option('--json', 'print verdicts as JSON')
    .option('--junit <file>', 'also write verdicts as JUnit XML')
    .action(run(async (args: string[], opts) => (await import('./budget-command.js')).budgetCommand(args, opts)));

  program
    .command('verify')
    .description('re-hash every blob, check every ref resolves, report orphans and leftovers (exit 3 when damaged)')
    .option('--fix', 'move bad blobs to .layerstore/quarantine and remove leftovers of interrupted ingests')
    .option('--json', 'print the verify report as JSON')
    .action(run(async (opts) => (await import('./verify-command.js')).verifyCommand(opts)));

  program
    .command('prune')
    .description('remove untagged images (as docker image prune removes dangling ones) and free the blobs only they held')
    .option('--dry-run', 'only say what would be removed and freed')
    .option('--json', 'print the result as JSON')
    .action(run(async (opts) => (await import('./prune-command.js')).pruneCommand(opts)));

  program
    .command('gc')
    .description('remove blobs no ref reaches, their derived data, and leftovers of interrupted ingests')
    .option('--dry-run', 'only say what would be removed')
    .option('--json', 'print the gc report as JSON')
    .action(run(async (opts) => (await import('./gc-command.js')).gcCommand(opts)));

  program
    .command('rm')
    .description('untag refs (an image goes when its last ref does; gc frees its blobs); a digest or image ID removes an untagged image')
    .argument('<ref...>', 'refs, manifest digests or image IDs')
    .option('-f, --force', 'a digest or image ID of a tagged image removes every tag of it')
    .action(run(async (refs: string[], opts) => (await import('./tag-command.js')).rmCommand(refs, opts)));

  program
    .command('tag')
    .description('give an image (or index) in the store another ref')
    .argument('<src>', 'ref, manifest digest or image ID')
    .argument('<dst>', 'new ref, e.g. acme/api:stable')
    .action(run(async (src: string, dst: string, opts) => (await import('./tag-command.js')).tagCommand(src, dst, opts)));

  program
    .command('export')
    .description('write refs as one tarball that docker load, skopeo and layerstore read (Docker 25+ shape: OCI layout + manifest.json)')
    .argument('<ref...>', 'refs, manifest digests or image IDs')
    .requiredOption('-o, --output <file>', 'the tarball to write (- for standard output)')
    .action(run(async (refs: string[], opts) => (await import('./export-command.js')).exportCommand(refs, opts)));

  program
    .command('serve')
    .description('serve the store as an OCI distribution registry, on loopback unless told otherwise')
    .option('--listen <host:port>', 'address to listen on (default 127.0.0.1:5000; port 0 picks a free one)')
    .option('--allow-push', 'accept pushes (blob uploads, manifests); off loopback this needs --htpasswd')
    .option('--allow-delete', 'accept deletes of manifests, tags and uploaded blobs (gc then frees them); off loopback this needs --htpasswd')
    .option('--htpasswd <file>', 'require HTTP basic auth against this htpasswd file (bcrypt)')
    .option('--allowed-host <name...>', 'on loopback, also answer requests addressed to this host name (a reverse proxy that passes its Host on)')
    .option('--tls-cert <file>', 'serve https with this certificate (PEM)')
    .option('--tls-key <file>', 'the private key for --tls-cert (PEM)')
    .option('--log', 'log one line per request on stderr')
    .action(run(async (opts) => (await import('./serve-command.js')).serveCommand(opts)));

  program
    .command('help')
    .description('display help for command')
    .argument('[command]', 'the command to describe')
    .action(async (name?: string) => {
      const cmd = name === undefined ? program : program.commands.find((c) => c.name() === name);
      if (cmd) cmd.outputHelp();
      // Not a command: parsed as one, it is commander's unknown-command error, with its suggestion.
      else await program.parseAsync([name!], { from: 'user' });
    });

  for (const c of program.commands) if (ENGINE_COMMANDS.includes(c.name())) for (const o of engineOptions()) c.addOption(o);
  for (const c of [program, ...program.commands]) pointToHelp(c);

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // No command given: commander printed the help as an error. It goes on stdout, exit 0, as docker's does.
      if (e.code === 'commander.help') {
        parserOutput.drop();
        program.outputHelp();
        return EXIT.ok;
      }
      parserOutput.flush();
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return EXIT.ok;
      return EXIT.badInput;
    }
    parserOutput.flush();
    printError(e instanceof Error ? e : new LayerstoreError('E_USAGE', String(e)), {});
    return EXIT.badInput;
  }
  parserOutput.flush();
  return code;
}

// Run when executed as the CLI (bin/layerstore.js imports this module).
// A reader that stops early (`layerstore report | head`) is not an error: stop quietly, as
// other Unix tools do, instead of dying on EPIPE with a stack trace; a command that changes
// the store goes on to the end with its output dropped (closed-output.ts).
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  if (!closedOutput.finish) process.exit(process.exitCode ?? 0);
  process.stdout.write = (() => true) as typeof process.stdout.write;
});
const exitCode = await main(process.argv.slice(2));
process.exitCode = exitCode;
