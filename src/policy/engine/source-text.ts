// A file's text plus the arithmetic that turns Cedar's source offsets into `file:line:column`.
// Cedar (Rust) reports byte offsets into UTF-8; JavaScript strings index UTF-16 code units, so the two
// disagree as soon as a policy holds a non-ASCII character (an `@advice` in French, say).

export interface SourcePosition {
  file: string;
  line: number;
  column: number;
}

export class SourceText {
  readonly bytes: Buffer;
  private readonly lineStarts: number[];

  constructor(
    readonly file: string,
    readonly text: string,
  ) {
    this.bytes = Buffer.from(text, 'utf8');
    this.lineStarts = [0];
    for (let i = 0; i < this.bytes.length; i++) {
      if (this.bytes[i] === 0x0a) this.lineStarts.push(i + 1);
    }
  }

  /** Line and column (both 1-based; the column counts characters) of a UTF-8 byte offset. */
  position(byteOffset: number): SourcePosition {
    const offset = Math.max(0, Math.min(byteOffset, this.bytes.length));
    let low = 0;
    let high = this.lineStarts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((this.lineStarts[mid] ?? 0) <= offset) low = mid;
      else high = mid - 1;
    }
    const lineStart = this.lineStarts[low] ?? 0;
    const column = this.bytes.subarray(lineStart, offset).toString('utf8').length + 1;
    return { file: this.file, line: low + 1, column };
  }

  /** The UTF-8 byte offset of a UTF-16 string index. */
  byteOffsetOf(stringIndex: number): number {
    return Buffer.byteLength(this.text.slice(0, stringIndex), 'utf8');
  }
}

export function formatPosition(position: SourcePosition): string {
  return `${position.file}:${position.line}:${position.column}`;
}
