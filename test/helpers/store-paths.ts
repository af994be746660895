import { StoreLayout } from '../../src/store/layout.js';

/**
 * The on-disk paths of a store, for tests that look at or damage its files directly (the
 * way a crash, a disk fault or another tool would). Code outside src/store/ never builds
 * these: it goes through Store's methods.
 */
export function storePaths(store: { root: string }): StoreLayout {
  return new StoreLayout(store.root);
}
