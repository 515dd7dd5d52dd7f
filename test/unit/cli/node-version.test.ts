// `bottle` on a Node older than package.json's engines says so, and what to
// do, before it loads anything that would fail in an obscure way. Run with the
// old Node this machine kind ships (/usr/bin/node, Node 20) when it has one.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const OLD = ['/usr/bin/node', '/usr/local/bin/node'].find((bin) => {
  if (!existsSync(bin)) return false;
  const major = Number(execFileSync(bin, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }).trim());
  return major < 22;
});

describe.skipIf(!OLD)('bottle on an old Node', () => {
  it('exits 1 naming the version it needs and the one it got, whatever the command', () => {
    const wanted = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).engines.node.replace('>=', '');
    const got = execFileSync(OLD!, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
    for (const args of [['doctor'], ['run', '--', 'true'], ['--version']]) {
      const r = spawnSync(OLD!, [path.join(ROOT, 'bin', 'bottle.js'), ...args], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`bottle needs Node >= ${wanted} (this is ${got}): install Node 24 LTS (https://nodejs.org, or \`nvm install 24\`) and run bottle with it\n`);
      expect(r.stdout).toBe('');
    }
  });
});
