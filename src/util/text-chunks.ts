/** Text gathered into chunks of about CHUNK_CHARS: big JSON written piece by piece, never one huge string. */
export const CHUNK_CHARS = 1 << 20;

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
