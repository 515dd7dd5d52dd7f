// The seeds' skills contract, found at plan time: each named skill replaces
// its guest dir (overridable), owned by node; missing skills, bad names and
// escaping symlinks are exit-2 errors before anything starts. All skills go
// in with the one provisioning exec.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { kernelFor, oneAgent } from '../../helpers/plan.ts';

function skillsDir(...names: string[]): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'bottle-skills-'));
  for (const n of names) {
    mkdirSync(path.join(dir, n, 'nested'), { recursive: true });
    writeFileSync(path.join(dir, n, 'SKILL.md'), `---\nname: ${n}\ndescription: test\n---\n`);
    writeFileSync(path.join(dir, n, 'nested', 'x.sh'), 'echo', { mode: 0o755 });
  }
  return dir;
}

const skillFiles = (files: readonly { plugin?: string }[]) => files.filter((f) => f.plugin === 'skills');

describe('skills plugin', () => {
  it('declares one replacing guest dir per skill, owned by node', async () => {
    const dir = skillsDir('init-prd', 'verify');
    const { kernel } = kernelFor(oneAgent({ skills: ['init-prd', 'verify'] }, {}, { skillsDir: dir }));
    expect(skillFiles((await kernel.plan()).files)).toEqual([
      { hostPath: path.join(dir, 'init-prd'), guestPath: '/home/node/.claude/skills/init-prd', owner: 'node', replace: true, plugin: 'skills' },
      { hostPath: path.join(dir, 'verify'), guestPath: '/home/node/.claude/skills/verify', owner: 'node', replace: true, plugin: 'skills' },
    ]);
  });

  it('no skills, no files', async () => {
    const { kernel } = kernelFor(oneAgent({ skills: [] }));
    expect(skillFiles((await kernel.plan()).files)).toEqual([]);
  });

  it('honours CLAUDE_BOTTLE_GUEST_SKILLS_DIR', async () => {
    const dir = skillsDir('init-prd');
    const { kernel } = kernelFor(oneAgent({ skills: ['init-prd'] }, {}, { skillsDir: dir }), { hostEnv: { CLAUDE_BOTTLE_GUEST_SKILLS_DIR: '/opt/skills/' } });
    expect(skillFiles((await kernel.plan()).files)[0]).toMatchObject({ guestPath: '/opt/skills/init-prd' });
  });

  it('finds skillsDir under ~ by default', async () => {
    const home = mkdtempSync(path.join(tmpdir(), 'bottle-home-'));
    mkdirSync(path.join(home, '.claude', 'skills', 'one'), { recursive: true });
    const { kernel } = kernelFor(oneAgent({ skills: ['one'] }), { hostEnv: { HOME: home } });
    expect(skillFiles((await kernel.plan()).files)[0]).toMatchObject({ hostPath: path.join(home, '.claude', 'skills', 'one') });
  });

  it('a missing skill fails at plan time, naming the field and where it looked', async () => {
    const dir = skillsDir('init-prd');
    const { kernel, backend } = kernelFor(oneAgent({ skills: ['init-prd', 'verify'] }, {}, { skillsDir: dir }));
    const r = await kernel.run(['true']);
    expect(r.exitCode).toBe(2);
    expect((r.error as Error).message).toBe(`bottle.config.ts: agents.demo.skills[1]: no skill "verify" in ${dir} (${path.join(dir, 'verify')} does not exist)`);
    expect(backend.calls).toEqual([]);
  });

  for (const bad of ['../etc', 'a/b', '..', 'x\\y', '']) {
    it(`refuses the skill name ${JSON.stringify(bad)}`, async () => {
      const { kernel } = kernelFor(oneAgent({ skills: [bad] }, {}, { skillsDir: skillsDir() }));
      await expect(kernel.plan()).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringContaining(`agents.demo.skills[0]: "${bad}" is not a skill name`) });
    });
  }

  it('refuses a symlink that leads outside the skill; allows one inside', async () => {
    const dir = skillsDir('ok', 'evil');
    symlinkSync('SKILL.md', path.join(dir, 'ok', 'alias.md'));
    symlinkSync('/etc/passwd', path.join(dir, 'evil', 'nested', 'passwd'));
    const ok = kernelFor(oneAgent({ skills: ['ok'] }, {}, { skillsDir: dir }));
    await expect(ok.kernel.plan()).resolves.toBeTruthy();
    const evil = kernelFor(oneAgent({ skills: ['evil'] }, {}, { skillsDir: dir }));
    await expect(evil.kernel.plan()).rejects.toThrow('agents.demo.skills[0]: skill "evil" has a symlink that leads outside it: nested/passwd -> /etc/passwd');
  });

  it('ten skills cost the same backend calls as one', async () => {
    const names = Array.from({ length: 10 }, (_, i) => `s${i}`);
    const dir = skillsDir(...names);
    const one = kernelFor(oneAgent({ skills: ['s0'] }, {}, { skillsDir: dir }));
    const ten = kernelFor(oneAgent({ skills: names }, {}, { skillsDir: dir }));
    await one.kernel.run(['true']);
    await ten.kernel.run(['true']);
    expect(ten.backend.methods()).toEqual(one.backend.methods());
    expect(ten.backend.methods().filter((m) => m === 'guest.provision')).toHaveLength(1);
  });
});
