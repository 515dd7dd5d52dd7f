// The plan: everything a bottle will be, decided before anything starts.
// Plugins fill a PlanDraft in the `plan` hook; the kernel freezes it into a Plan.

import type { DoorDecl } from './doors.ts';

/** Who owns a file in the guest. The agent image guarantees node is uid/gid 1000. */
export type GuestOwner = 'node' | 'root';

/** A file or directory the guest gets, put in with the one provisioning tar stream. */
export interface GuestFile {
  /** Absolute path in the guest. */
  guestPath: string;
  /** Literal content; exactly one of `content` and `hostPath` is set. */
  content?: string | Uint8Array;
  /** A host file or directory copied in (a directory recursively, modes kept). */
  hostPath?: string;
  owner: GuestOwner;
  /** Mode for `content` files; host files keep their own mode unless set. */
  mode?: number;
  /** Remove whatever is at `guestPath` first (a skill dir replaces the old one). */
  replace?: boolean;
  /**
   * The content is a JSON object that other plugins may add to: files with
   * `mergeJson` at one guest path are merged into one (objects deeply, later
   * plugins' values winning), e.g. Claude Code's `~/.claude.json`.
   */
  mergeJson?: boolean;
  /** The plugin that declared it, for `bottle plan` and errors (filled in by the kernel when left out). */
  plugin?: string;
}

/** A command run in the guest after the files are in, all of them in one exec. */
export interface GuestCommand {
  argv: string[];
  /** What messages call it, when the argv is a long script: `update-ca-certificates`. */
  title?: string;
  user: GuestOwner;
  /** Extra environment for this command only. */
  env?: Record<string, string>;
  /** A failure here is a warning instead of a stop. */
  optional?: boolean;
  /** Filled in by the kernel when left out: the plugin whose tap added it. */
  plugin?: string;
}

/** A host directory or file bind-mounted into the guest. */
export interface BindMount {
  kind?: 'bind';
  hostPath: string;
  guestPath: string;
  readOnly: boolean;
}

/**
 * A directory of the guest's own, on the engine's disk, not the host's: it
 * hides what a bind mount has at that path (the private `.git` of a mounted
 * workspace) and goes with the guest.
 */
export interface VolumeMount {
  kind: 'volume';
  guestPath: string;
}

export type Mount = BindMount | VolumeMount;

/** A host daemon a plugin will start in preStart; declared here so `bottle plan` shows it. A daemon the guest reaches has a door too (`ctx.door`). */
export interface DaemonDecl {
  name: string;
  plugin: string;
  description: string;
}

/** How the agent is run: the `exec` waterfall passes this from tap to tap. */
export interface ExecSpec {
  argv: string[];
  env: Record<string, string>;
  user: GuestOwner;
  workdir: string;
}

export type WorkspaceMode = 'copy' | 'mount' | 'none';

export interface PlanDraft {
  /** Unique name of this bottle: `<agent>-<5 chars>`. */
  slug: string;
  agent: string;
  bottle: string;
  backend: 'docker' | 'smolvm';
  image: string;
  /** The directory `bottle` was run from. */
  hostCwd: string;
  /** Where the config file lives (relative paths in it are relative to this). */
  configDir: string;
  workspace: { mode: WorkspaceMode; hostDir: string; guestDir: string };
  files: GuestFile[];
  commands: GuestCommand[];
  /** Environment of the guest (every exec in it). */
  env: Record<string, string>;
  mounts: Mount[];
  daemons: DaemonDecl[];
  /** The guest's ways out, asked for with `ctx.door()` in `plan`; their host sockets and guest ports. */
  doors: DoorDecl[];
  exec: ExecSpec;
  /** Labels put on everything the backend creates for this bottle. */
  labels: Record<string, string>;
}

export type Plan = Readonly<PlanDraft>;

export const GUEST_HOME = '/home/node';
export const GUEST_WORKSPACE = '/home/node/workspace';
