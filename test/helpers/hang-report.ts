/**
 * Preloaded into each test file's process by test/run-tests.js: when the runner stops a file that has
 * not exited in time (SIGTERM), it says which handles kept it alive, so the hang has a name.
 */
process.once('SIGTERM', () => {
  const held = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) held.set(r, (held.get(r) ?? 0) + 1);
  const list = [...held].map(([r, n]) => `${r} x${n}`).join(', ') || 'none';
  process.stderr.write(`\n[hang-report] ${process.argv[1]}: still open: ${list}\n`);
  process.exit(1);
});
