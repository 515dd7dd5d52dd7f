// Before the integration tier: the agent image the tests run must exist.
// .ci/run builds it; on a developer machine the first run builds it here.
import { execaSync } from 'execa';
import { agentImageExists, buildAgentImage } from '../../core/image/build.ts';
import { TEST_IMAGE } from './cli.ts';

export default async function setup(): Promise<void> {
  if (execaSync('docker', ['info'], { reject: false }).exitCode !== 0) return;
  if (await agentImageExists(TEST_IMAGE)) return;
  const base = process.env.BOTTLE_TEST_BASE_IMAGE ?? process.env.BOTTLE_BASE_IMAGE ?? 'claude-bottle-base:bookworm';
  console.log(`integration setup: building ${TEST_IMAGE} on ${base} (first time only) ...`);
  await buildAgentImage({ tag: TEST_IMAGE, base, onProgress: () => {} });
}
