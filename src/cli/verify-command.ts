import { emptyVerifyReport, verifyStore, type VerifyReport } from '../store/verify.js';
import { checkRecordsCache } from '../analysis/image-records.js';
import { humanBytes } from '../report/human.js';
import { toJson } from '../report/json.js';
import { openForRead, storeDir, info, type GlobalOptions } from './context.js';
import { ProgressBar } from './progress.js';
import { exitOnSignal } from './interrupt.js';

export async function verifyCommand(opts: GlobalOptions & { fix?: boolean; json?: boolean }): Promise<number> {
  const store = await openForRead(opts);
  if (!store) {
    info(opts, `no store at ${storeDir(opts)}; nothing to verify`);
    // --json still prints its document, an empty store's: a script reads one shape either way.
    if (opts.json) process.stdout.write(verifyJson(storeDir(opts), emptyVerifyReport(), []));
    return 0;
  }
  const bar = new ProgressBar('verify', !opts.quiet && !opts.json && process.stderr.isTTY === true);
  // Each --fix step (a rename into quarantine, a leftover removed) stands on its own: stopping between them is safe.
  const signals = exitOnSignal(
    opts.fix
      ? 'verify --fix did not finish: what it quarantined or removed so far stays so; no verdict on the store'
      : 'verify did not finish: no verdict on the store',
  );
  let r: VerifyReport;
  try {
    r = await verifyStore(store, {
      fix: opts.fix,
      onProgress: (done, total) => bar.update(done, total),
      checkCaches: (good) => checkRecordsCache(store, good),
    });
  } finally {
    signals();
    bar.stop();
  }
  // Not damage: a registry push stored them knowingly. Said, so nobody takes them for verified images.
  const unverified = [...(await store.unverified())].map(([digest, reason]) => ({ digest, reason }));
  if (opts.json) {
    process.stdout.write(verifyJson(store.root, r, unverified));
    return r.damaged ? 3 : 0;
  }
  const out: string[] = [
    `Store: ${store.root}`,
    `checked ${r.blobsChecked} blobs (${humanBytes(r.bytesChecked)}): every name is the sha256 of its bytes${r.badBlobs.length ? ' EXCEPT the bad blobs below' : ''}`,
  ];
  for (const b of r.badBlobs) {
    const who = b.roots.length ? `; needed by ${b.roots.join(', ')}` : '; no image needs it';
    const what = b.problem === 'hash-mismatch' ? `its bytes hash to ${b.actual}` : b.problem.replace(/-/g, ' ');
    out.push(`BAD blob ${b.name}: ${what}${who}${b.quarantinedTo ? ` (moved to ${b.quarantinedTo})` : ''}`);
  }
  for (const m of r.missing)
    out.push(`MISSING blob ${m.digest}, named by ${m.neededBy === m.digest ? 'index.json' : m.neededBy}; needed by ${m.roots.join(', ')}`);
  for (const u of r.unreadable) out.push(`UNREADABLE manifest ${u.digest}: ${u.error}`);
  if (r.orphans.length)
    out.push(`${r.orphans.length} orphan blobs (${humanBytes(r.orphans.reduce((n, o) => n + o.size, 0))}) no ref reaches; layerstore gc removes them`);
  if (r.leftovers.length) {
    const bytes = humanBytes(r.leftovers.reduce((n, l) => n + l.size, 0));
    out.push(
      opts.fix
        ? `removed ${r.fixed.leftoversRemoved} leftover files of interrupted ingests (${bytes})`
        : `${r.leftovers.length} leftover files of interrupted ingests (${bytes}); verify --fix or gc removes them`,
    );
  }
  for (const u of unverified) out.push(`UNVERIFIED image ${u.digest}: ${u.reason} (stored by a push to serve; not a verified image)`);
  for (const f of r.badFiles) out.push(`BAD file ${f.error}${f.hint ? `\n  hint: ${f.hint}` : ''}`);
  for (const c of r.badCaches) out.push(`BAD cache ${c.path}: ${c.problem}${c.removed ? ' (deleted; rebuilt when needed)' : ''}`);
  if (r.absentPlatforms)
    out.push(`${r.absentPlatforms} platform manifests listed by stored indexes are not stored (a save of some platforms only); that is normal`);
  const blobDamage = r.badBlobs.length > 0 || r.missing.length > 0 || r.unreadable.length > 0;
  if (!r.damaged) out.push('OK: the store is consistent');
  else if (!blobDamage && r.badFiles.length)
    out.push('DAMAGED: a store file above cannot be read; gc sweeps nothing until it is repaired or removed (see its hint)');
  else if (!blobDamage) out.push('DAMAGED: run layerstore verify --fix to delete the bad caches (they are rebuilt from the blobs)');
  else if (r.badBlobs.length && !opts.fix)
    out.push('DAMAGED: run layerstore verify --fix to quarantine the bad blobs, then ingest the sources of the images named above again');
  else
    out.push(
      `DAMAGED${r.fixed.quarantined ? ` (${r.fixed.quarantined} bad blobs quarantined)` : ''}: ingest the sources of the images named above again to restore their blobs, or layerstore rm them`,
    );
  process.stdout.write(out.join('\n') + '\n');
  return r.damaged ? 3 : 0;
}

function verifyJson(root: string, r: VerifyReport, unverified: Array<{ digest: string; reason: string }>): string {
  return toJson({ schemaVersion: 1, store: root, ...r, unverified, leftovers: r.leftovers.map((l) => ({ path: l.path, size: l.size })) });
}
