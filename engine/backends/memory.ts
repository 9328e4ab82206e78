/** How much memory a model may take on the native backend, whose tensors live in the process's own heap. */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';

/** Set by tests only, to check the refusal without a model larger than the machine. */
const FAKE_ENV = 'DIFFLORA_TEST_AVAILABLE_MEMORY';

/**
 * Bytes that can be allocated without swapping: Linux's MemAvailable (free + reclaimable page cache);
 * on macOS vm_stat's free, inactive, speculative and purgeable pages (os.freemem() counts only the free
 * ones, a few hundred MB on a Mac that caches files, and would refuse a model that fits); else os.freemem().
 */
export function availableMemory(): { bytes: number; source: string } {
  const fake = process.env[FAKE_ENV];
  if (fake) return { bytes: Number(fake), source: FAKE_ENV };
  try {
    if (process.platform === 'linux') {
      const m = /^MemAvailable:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
      if (m) return { bytes: Number(m[1]) * 1024, source: 'MemAvailable in /proc/meminfo' };
    }
    if (process.platform === 'darwin') {
      const bytes = reclaimableFromVmStat(execFileSync('vm_stat', { encoding: 'utf8', timeout: 5000 }));
      if (bytes !== undefined) return { bytes, source: 'free + inactive + speculative + purgeable pages of vm_stat' };
    }
  } catch {
    /* fall back below */
  }
  return { bytes: os.freemem(), source: 'os.freemem()' };
}

/** Free, inactive, speculative and purgeable pages of macOS's `vm_stat` output, in bytes; undefined if unreadable. */
export function reclaimableFromVmStat(out: string): number | undefined {
  const page = /page size of (\d+) bytes/.exec(out);
  if (!page) return undefined;
  let pages = 0;
  for (const kind of ['free', 'inactive', 'speculative', 'purgeable']) {
    const m = new RegExp(`^Pages ${kind}:\\s+(\\d+)\\.?$`, 'm').exec(out);
    if (!m) return undefined;
    pages += Number(m[1]);
  }
  return pages * Number(page[1]);
}
