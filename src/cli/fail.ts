// The CLI's one way out on bad usage: a message on stderr and an exit code (2 for usage).
export function fail(message: string, code: number): never {
  process.stderr.write(`headroom: ${message}\n`);
  process.exit(code);
}
