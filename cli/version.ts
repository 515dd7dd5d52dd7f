// The package version, read from package.json beside the source or dist tree.
import { readFileSync } from 'node:fs';

function read(): string {
  // Beside the source (cli/), tsc's dist/cli/, or the bundle's dist/cli-bundle/chunks/.
  for (const rel of ['../package.json', '../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'claude-bottle' && pkg.version) return pkg.version;
    } catch {
      // not there: try the next
    }
  }
  return '0.0.0';
}

export const VERSION = read();
