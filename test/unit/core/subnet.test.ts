// A bottle's subnet is never one already in use: not one the engine refused
// before, not one overlapping the host's own networks.
import { describe, expect, it } from 'vitest';
import { hostRanges, pickSubnet, poolPrefix } from '../../../core/backends/subnet.ts';

describe('pickSubnet', () => {
  it('skips excluded subnets and takes the next', () => {
    const first = pickSubnet(new Set(), () => 0);
    expect(first).toEqual({ cidr: '10.213.0.0/24', gateway: '10.213.0.1' });
    expect(pickSubnet(new Set(['10.213.0.0/24']), () => 0).cidr).toBe('10.213.1.0/24');
  });

  it('never overlaps a host network', () => {
    const env = { BOTTLE_SUBNET_POOL: '127.0' };
    // 127.0.0.0/8 is the loopback's: every /24 of that pool overlaps it.
    expect(hostRanges().some(([s]) => s >>> 24 === 127)).toBe(true);
    expect(() => pickSubnet(new Set(), () => 0, env)).toThrow('no free /24 left in 127.0.0.0/16');
  });

  it('rejects a malformed pool', () => {
    expect(() => poolPrefix({ BOTTLE_SUBNET_POOL: '10.213.0.0/16' })).toThrow('BOTTLE_SUBNET_POOL must look like "10.213"');
  });
});
