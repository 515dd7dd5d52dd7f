// Whether a Docker engine answers, computed once at import. Integration tests
// guard themselves with `describe.skipIf(!dockerAvailable)`; on CI (CI=true) a
// missing engine is an error, not a reason to skip, so this module throws.

import { execaSync } from 'execa';

function probeDocker(): { ok: boolean; why: string } {
  const r = execaSync('docker', ['info', '--format', '{{.ServerVersion}}'], {
    reject: false,
    stdin: 'ignore',
    timeout: 30_000,
  });
  if (r.exitCode === 0 && String(r.stdout).trim()) return { ok: true, why: '' };
  return { ok: false, why: String(r.stderr).trim() || r.message || `exit ${r.exitCode}` };
}

function onCI(): boolean {
  const ci = process.env['CI']?.trim().toLowerCase();
  return ci !== undefined && ci !== '' && ci !== '0' && ci !== 'false';
}

const probe = probeDocker();

if (!probe.ok && onCI()) {
  throw new Error(`CI is set but no Docker engine answers \`docker info\`: ${probe.why}`);
}

/** True when `docker info` succeeds against a running engine. */
export const dockerAvailable: boolean = probe.ok;
