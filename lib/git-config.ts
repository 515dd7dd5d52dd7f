// The bottle's `git` key, shared by two plugins: git-user reads `user`, the
// git gate `remotes` and `policy`. Both declare the key with this one schema
// (the config schema accepts a key twice only as the very same schema).
import { z } from 'zod';

export const gitUserSchema = z
  .strictObject({
    name: z.string().min(1).optional().describe('user.name for commits made in the bottle.'),
    email: z.string().min(1).optional().describe('user.email for commits made in the bottle.'),
  })
  .describe('The git identity of the agent.');

export const remoteSchema = z.strictObject({
  upstream: z
    .string()
    .regex(/^(ssh:\/\/[^/\s]+\/\S+|[\w.-]+@[\w.-]+:\S+)$/, { error: 'an ssh URL, e.g. ssh://git@github.com/acme/app.git or git@github.com:acme/app.git' })
    .describe('The real remote; the guest uses this URL and git rewrites it to the gate.'),
  identityFile: z.string().min(1).describe('The SSH private key the gate pushes and fetches with; it never enters the guest.'),
  knownHosts: z.string().min(1).optional().describe('known_hosts file for this upstream (default ~/.ssh/known_hosts).'),
});

export const policySchema = z.strictObject({
  protected: z.array(z.string().min(1)).default(['main', 'master']).describe('Branches that can be neither force-pushed nor deleted.'),
  push: z.array(z.string().min(1)).default(['claude/*']).describe('Branch patterns the agent may push to (`*` matches within one path segment, `**` across).'),
  maxPackBytes: z.number().int().positive().default(100 * 1024 * 1024).describe('Largest push accepted.'),
});

export const gitSchema = z
  .strictObject({
    user: gitUserSchema.optional(),
    remotes: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, { error: 'a remote name: letters, digits, ".", "_", "-"' }), remoteSchema).default({}),
    policy: policySchema.default({ protected: ['main', 'master'], push: ['claude/*'], maxPackBytes: 100 * 1024 * 1024 }),
  })
  .describe('Git inside the bottle.');

export type GitConfig = z.output<typeof gitSchema>;
export type RemoteConfig = z.output<typeof remoteSchema>;
export type GitPolicy = z.output<typeof policySchema>;

export const gitShape = { git: gitSchema.optional() };
