import { promises as fsp } from 'node:fs';
import { LayerstoreError, toLayerstoreError } from '../errors.js';
import { shortDigest } from '../digest/digest.js';
import { ingestFileAs, ingestPath, ingestStream, type IngestOptions, type IngestResult } from '../ingest/ingest.js';
import { regularFileOnStdin } from '../util/stdin-file.js';
import { Store } from '../store/store.js';
import { humanBytes } from '../report/human.js';
import { info, storeDir } from './context.js';
import { IngestProgressBar } from './progress.js';
import { printError } from './errors-out.js';
import { toJson } from '../report/json.js';
import { normalizeRepository, normalizeUserRef } from '../formats/ref-names.js';
import { engineExport, isEngineRef, type EngineOptions } from './engine-inputs.js';
import { stagingWorkers } from '../ingest/staged-file.js';
import { CommitOrder, type CommitTicket } from '../ingest/commit-order.js';
import { finishOnClosedOutput } from './closed-output.js';
import { exitCleanlyOnSignal } from './interrupt.js';
import { appendAll } from '../util/append.js';

export interface IngestCommandOptions extends EngineOptions {
  json?: boolean;
  /** --tag REPO[:TAG]: a ref for each input's one image. */
  tag?: string;
  /** --repo NAME: the repository for bare OCI ref names (default: the input's name). */
  repo?: string;
  /** Read every blob of the input, even those the store holds. */
  verifyInput?: boolean;
}

/** Expand PATH arguments: existing paths as they are, anything else as a glob (fast-glob). */
export async function expandInputs(args: string[]): Promise<{ inputs: string[]; errors: LayerstoreError[] }> {
  const inputs: string[] = [];
  const errors: LayerstoreError[] = [];
  for (const a of args) {
    // Standard input; /dev/stdin too unless it is a file (a socket, which node spawns give as
    // stdin, cannot be opened by path at all).
    if (isEngineRef(a)) {
      inputs.push(a); // the engine's own export, streamed
      continue;
    }
    if (
      a === '-' ||
      (a === '/dev/stdin' &&
        !(await fsp.stat(a).then(
          (s) => s.isFile(),
          () => false,
        )))
    ) {
      inputs.push('-');
      continue;
    }
    const exists = await fsp.stat(a).then(
      () => true,
      () => false,
    );
    if (exists) {
      inputs.push(a);
      continue;
    }
    // fast-glob is loaded only for an argument that is not a path (~35 ms of start-up).
    const { default: fg } = await import('fast-glob');
    const dynamic = fg.isDynamicPattern(a);
    const matches = dynamic ? (await fg(a, { onlyFiles: false, dot: false, followSymbolicLinks: true })).sort() : [];
    if (matches.length === 0)
      errors.push(new LayerstoreError('E_INPUT_NOT_FOUND', dynamic ? 'the pattern matches nothing' : 'no such file or directory', { source: a }));
    appendAll(inputs, matches);
  }
  return { inputs: [...new Set(inputs)], errors };
}

export async function ingestCommand(paths: string[], opts: IngestCommandOptions): Promise<number> {
  finishOnClosedOutput(); // `ingest *.tar | head -1` still ingests every input
  const { inputs, errors } = await expandInputs(paths);
  for (const e of errors) printError(e, opts);
  if (inputs.length === 0) return 2;
  const tag = opts.tag === undefined ? undefined : normalizeUserRef(opts.tag, '--tag');
  if (tag?.includes('@')) throw new LayerstoreError('E_USAGE', `--tag ${JSON.stringify(opts.tag)} has a digest; give REPO[:TAG]`);
  const repository = opts.repo === undefined ? undefined : normalizeRepository(opts.repo, '--repo');
  const store = await Store.open(storeDir(opts), { create: true });
  info(opts, `store: ${store.root}`);
  exitCleanlyOnSignal(store, 'each input not reported above was added whole or not at all');
  const results: IngestResult[] = [];
  let failed = errors.length;
  let damaged = false; // a damaged store outranks bad input: exit 3
  const showBar = !opts.quiet && !opts.json && process.stderr.isTTY === true;
  // One pool of hashing threads for every input (started when first needed).
  const workers = stagingWorkers();
  // Inputs overlap by one: the next is read and staged while this one commits (commit-order.ts).
  // Not under a progress bar, which shows one input at a time.
  const order = showBar ? undefined : new CommitOrder();
  const report = (r: IngestResult | LayerstoreError) => {
    if (r instanceof LayerstoreError) {
      failed++;
      if (r.code === 'E_STORE_INVALID') damaged = true;
      printError(r, opts);
      return;
    }
    results.push(r);
    if (!opts.json) process.stdout.write(summaryLine(r) + '\n');
    for (const c of r.refChanges) {
      if (c.from) info(opts, `  ref ${c.ref} moved from ${shortDigest(c.from)} to ${shortDigest(c.to)}; the image it named is kept untagged`);
    }
    for (const n of r.notes) info(opts, `  note: ${n}`);
  };
  const ingestOne = async (input: string, ticket: CommitTicket | undefined): Promise<IngestResult | LayerstoreError> => {
    const bar = new IngestProgressBar(input, showBar);
    try {
      const progress: IngestOptions = {
        onStart: (p) => bar.start(p),
        workers,
        ...(ticket ? { ticket } : {}),
        ...(tag ? { tag } : {}),
        ...(repository ? { repository } : {}),
        ...(opts.verifyInput ? { verifyInput: true } : {}),
      };
      return input === '-'
        ? await ingestStdin(store, progress)
        : isEngineRef(input)
          ? await ingestStream(store, await engineExport(input, opts), input, progress)
          : await ingestPath(store, input, progress); // prettier-ignore
    } catch (e) {
      return toLayerstoreError(e, input);
    } finally {
      ticket?.done(); // also when the engine's export never started
      bar.stop();
    }
  };
  let printed = Promise.resolve();
  for (const input of inputs) {
    const ticket = order?.ticket();
    const outcome = ingestOne(input, ticket);
    // Results are printed in input order, each as soon as it and those before it are in.
    printed = printed.then(async () => report(await outcome));
    // The next input starts once this one holds its turn to commit (or is done).
    await (ticket ? ticket.reached : printed);
  }
  await printed;
  await workers.close();
  if (opts.json) process.stdout.write(toJson({ schemaVersion: 1, store: store.root, results: results.map(jsonResult), failed }));
  const total = inputs.length + errors.length;
  if (failed > 0) {
    // Nothing stored at all: a store this command created goes again (a refused input leaves none).
    if (results.length === 0) await store.discardIfUnused();
    // One input has said what is wrong in its own line; a count helps only among several.
    if (total > 1)
      process.stderr.write(`layerstore: ${total - failed} of ${total} inputs ingested, ${failed} failed (the failed ones changed nothing in the store)\n`);
    return damaged ? 3 : 2;
  }
  return 0;
}

/** `ingest -`: an archive on standard input (docker save x | layerstore ingest -). */
function ingestStdin(store: Store, opts: IngestOptions): Promise<IngestResult> {
  if (process.stdin.isTTY)
    throw new LayerstoreError('E_USAGE', 'refusing to read an archive from a terminal', {
      source: '-',
      hint: 'pipe one in: docker save IMAGE | layerstore ingest -',
    });
  const file = regularFileOnStdin();
  if (file) return ingestFileAs(store, file, '-', opts);
  return ingestStream(store, process.stdin, '-', opts);
}

/** "acme/api:1.0; v1 (2 platforms); <none>@1a2b3c4d5e6f" — each ref once, at most 8 shown. */
function imageNames(r: IngestResult): string {
  const counts = new Map<string, number>();
  for (const i of r.images) {
    const names = i.refs.length ? i.refs : [`<none>@${shortDigest(i.manifestDigest)}`];
    for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
  }
  const shown = [...counts].slice(0, 8).map(([n, c]) => (c > 1 ? `${n} (${c} platforms)` : n));
  if (counts.size > 8) shown.push(`${counts.size - 8} more`);
  return shown.join('; ');
}

function summaryLine(r: IngestResult): string {
  const rate = r.seconds > 0 ? `${humanBytes(r.bytesRead / r.seconds)}/s` : '';
  return (
    `${r.source}: ${r.images.length} image${r.images.length === 1 ? '' : 's'}${r.images.length ? ` (${imageNames(r)})` : ''}; ` +
    `${r.blobsAdded} new blob${r.blobsAdded === 1 ? '' : 's'} (${humanBytes(r.bytesAdded)}), ${r.blobsPresent} already stored; ` +
    `read ${humanBytes(r.bytesRead)} in ${r.seconds.toFixed(2)} s (${rate})`
  );
}

function jsonResult(r: IngestResult) {
  return {
    source: r.source,
    format: r.format,
    images: r.images.map((i) => ({ refs: i.refs, manifestDigest: i.manifestDigest, configDigest: i.configDigest, layers: i.layers })),
    blobsAdded: r.blobsAdded,
    bytesAdded: r.bytesAdded,
    blobsPresent: r.blobsPresent,
    bytesRead: r.bytesRead,
    refChanges: r.refChanges,
    notes: r.notes,
  };
}
