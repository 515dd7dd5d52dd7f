// One remote as the gate's parts see it once it is served: its config, its
// mirror, its ssh master; and what of the host must not reach the guest.
import type { Mirror } from './mirror.ts';
import type { SshMaster } from './ssh.ts';
import type { GateRemote } from './types.ts';

export interface Remote {
  cfg: GateRemote;
  mirror: Mirror;
  master: SshMaster;
  /** GIT_SSH_COMMAND for the calls that reach this upstream. */
  sshCommand: string;
}

/** The host paths of a remote's key and known_hosts are nobody's business in the guest (the audit keeps them). */
export const scrub = (r: Pick<Remote, 'cfg'>, text: string) => text.split(r.cfg.identityFile).join('<identity>').split(r.cfg.knownHosts).join('<known_hosts>');
