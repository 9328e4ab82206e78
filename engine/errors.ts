/**
 * An error about user input (a file, a flag, a message) that the CLI prints as one line.
 * `where` names the file, tensor or key at fault so the user can find it without a stack trace.
 */
export class InputError extends Error {
  constructor(readonly where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'InputError';
  }
}
