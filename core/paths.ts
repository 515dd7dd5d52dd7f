// Host paths as users write them in a config: `~` is their home, a relative
// path is relative to the config file.
import { homedir } from 'node:os';
import path from 'node:path';

export function resolveUserPath(p: string, baseDir: string, home: string = homedir()): string {
  if (p === '~') return home;
  if (p.startsWith('~/')) return path.join(home, p.slice(2));
  return path.resolve(baseDir, p);
}
