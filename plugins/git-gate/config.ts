// The bottle's `git` key (shared with git-user: lib/git-config.ts).
export * from '../../lib/git-config.ts';
