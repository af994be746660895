import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../../src/store/store.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { storeConformance } from './conformance.js';

storeConformance('local OCI-layout store', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'layerstore-conf-'));
  const root = path.join(dir, 'store');
  const store = await Store.open(root, { create: true });
  return { store, snapshot: () => snapshotStore(root), cleanup: () => fsp.rm(dir, { recursive: true, force: true }) };
});
