// Bad input on the command line: reported as one line on stderr with exit code 2, never a stack trace.
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export const EXIT_USAGE = 2;
