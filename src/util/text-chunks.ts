/**
 * Text gathered into chunks of about CHUNK_CHARS: big JSON written piece by piece, never one
 * huge string. Small, so the pieces of a chunk die young: the CLI holds V8's young generation
 * at 1 MB (util/young-generation.ts), and chunks of 1M characters outlived it, so every piece
 * was copied to the old generation first. 16K characters against 1M: `report --json` of 20,000
 * images 0.82x the time and 260 MB peak instead of 498; `diff --json` of 500,000 changes ~0.5x
 * the time (paired runs; 4K was no faster).
 */
export const CHUNK_CHARS = 1 << 14;

export class TextChunks {
  private parts: string[] = [];
  private size = 0;

  /** Queue `s`; true when a chunk is ready to take. */
  put(s: string): boolean {
    this.parts.push(s);
    this.size += s.length;
    return this.size >= CHUNK_CHARS;
  }

  /** Everything queued since the last take, as one string. */
  take(): string {
    const chunk = this.parts.join('');
    this.parts = [];
    this.size = 0;
    return chunk;
  }
}
