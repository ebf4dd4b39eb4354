// Bad input to the checker: malformed files, impossible histories, unknown operations.
// These are operating errors, reported as one line naming the place, never as a crash.

export class BadInputError extends Error {
  readonly file: string;
  /** 1-based; 0 when the error is not tied to a line. */
  readonly line: number;
  /** 1-based; 0 when the error is not tied to a column. */
  readonly column: number;
  readonly reason: string;

  constructor(file: string, line: number, column: number, reason: string) {
    super(formatPlace(file, line, column) + reason);
    this.name = "BadInputError";
    this.file = file;
    this.line = line;
    this.column = column;
    this.reason = reason;
  }
}

function formatPlace(file: string, line: number, column: number): string {
  if (line <= 0) return `${file}: `;
  if (column <= 0) return `${file}:${line}: `;
  return `${file}:${line}:${column}: `;
}

/** A source position (1-based line and column) of an event in its file. */
export interface SourcePlace {
  readonly line: number;
  readonly column: number;
}
