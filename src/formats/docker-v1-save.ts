import { LayerstoreError } from '../errors.js';
import type { SourceReader } from './readers.js';

/** A pre-Docker-1.10 save (a repositories file, no manifest.json): detected to be refused with a way out. */
export const dockerV1SaveReader: SourceReader = {
  name: 'docker-v1-save',
  detect: (view) => view.has('repositories'),
  open: async () => {
    throw new LayerstoreError(
      'E_UNSUPPORTED',
      'this is a pre-Docker-1.10 save (a repositories file, no manifest.json), which carries no image config digests',
      {
        hint: 'load it into Docker and save it again with a current Docker, podman or skopeo',
      },
    );
  },
};
