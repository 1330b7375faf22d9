// Grants as written (`sensor isolate --allow`, response.yaml) -> the kernel's
// LPM entries: parsing, v4-mapped addresses, prefix lengths over 16 bytes,
// and the ports of a covering prefix copied into longer ones (the trie
// answers with the longest match alone).
import { describe, expect, it } from 'vitest';
import { GrantError, kernelGrants, parseGrant } from '../sensor/response/egress-grants.js';

describe('egress grants', () => {
  it('parses addresses, prefixes, IPv6 in brackets, host names, ports and ranges', () => {
    expect(parseGrant('10.0.0.0/8')).toMatchObject({ host: '10.0.0.0', bits: 8, ports: [1, 65535] });
    expect(parseGrant('10.1.2.3:443')).toMatchObject({ host: '10.1.2.3', bits: null, ports: [443, 443] });
    expect(parseGrant('[::1]:8000-8100')).toMatchObject({ host: '::1', ports: [8000, 8100] });
    expect(parseGrant('fd00::/8')).toMatchObject({ host: 'fd00::', bits: 8 });
    expect(parseGrant('api.example.com:443')).toMatchObject({ host: 'api.example.com', ports: [443, 443] });
    expect(parseGrant('*:53')).toMatchObject({ host: '*', ports: [53, 53] });
    for (const bad of ['10.0.0.0/33', '1.2.3.4:0', '1.2.3.4:70000', '1.2.3.4:9-3', 'bad host:1', ':443', 'api.example.com/8']) {
      expect(() => parseGrant(bad), bad).toThrow(GrantError);
    }
  });

  it('stores IPv4 v4-mapped with the prefix counted over 128 bits', async () => {
    const { grants } = await kernelGrants([parseGrant('10.0.0.0/8:443'), parseGrant('::1')]);
    const v4 = grants.find((g) => g.bits === 104)!;
    expect(v4.addr16.toString('hex')).toBe('00000000000000000000ffff0a000000');
    expect(v4.ports).toEqual([[443, 443]]);
    const v6 = grants.find((g) => g.bits === 128)!;
    expect(v6.addr16.toString('hex')).toBe('00000000000000000000000000000001');
  });

  it('gives a longer prefix the ports of the shorter ones covering it, merged', async () => {
    const { grants } = await kernelGrants([parseGrant('127.0.0.1:80'), parseGrant('127.0.0.0/8:81-90'), parseGrant('127.0.0.0/8:85-100'), parseGrant('10.0.0.0/8:22')]);
    const host = grants.find((g) => g.bits === 128)!;
    expect(host.ports).toEqual([[80, 100]]);
    const net = grants.find((g) => g.bits === 104 && g.addr16[12] === 127)!;
    expect(net.ports).toEqual([[81, 100]]);
    const ten = grants.find((g) => g.addr16[12] === 10)!;
    expect(ten.ports).toEqual([[22, 22]]); // not covered by 127/8
  });

  it('resolves host names when applied', async () => {
    const { grants, resolved } = await kernelGrants([parseGrant('localhost:8080')]);
    expect(resolved.localhost!.length).toBeGreaterThan(0);
    expect(grants.every((g) => g.bits === 128 && g.ports[0]![0] === 8080)).toBe(true);
  });
});
