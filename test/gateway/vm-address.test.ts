// vmAddressRefusal: a VM address an agent reports is accepted only inside one of the agent's approved /64s (in any text form), or "" for a VM that is gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { vmAddressRefusal } from '../../src/gateway/agents/vm-address.js';

test('vmAddressRefusal: inside an approved /64 (any text form) or "" passes; anything else is refused with a reason naming the node, VM and /64s', async (t) => {
  const table: Array<{ name: string; reported: string; subnets: string[]; refused: boolean }> = [
    { name: 'inside the /64', reported: '4a1::ff0f:1:2:3', subnets: ['4a1::/64'], refused: false },
    { name: 'inside the second approved /64', reported: '4b2:0:0:7::9', subnets: ['4a1::/64', '4b2:0:0:7::/64'], refused: false },
    { name: 'the /64 approved in another text form', reported: '4a1::1', subnets: ['4A1:0:0:0::/64'], refused: false },
    { name: 'no address (a VM that is gone)', reported: '', subnets: ['4a1::/64'], refused: false },
    { name: 'another /64 on the overlay', reported: '4a1:0:0:1::1', subnets: ['4a1::/64'], refused: true },
    { name: 'another customer\'s address', reported: '5b3:1:2:3::1', subnets: ['4a1::/64'], refused: true },
    { name: 'no approved /64', reported: '4a1::1', subnets: [], refused: true },
    { name: 'outside 400::/7', reported: '2001:db8::1', subnets: ['4a1::/64'], refused: true },
  ];
  for (const c of table) {
    await t.test(c.name, () => {
      const why = vmAddressRefusal('node-1', 'dep_1', c.reported, c.subnets);
      assert.equal(why !== null, c.refused, String(why));
      if (why !== null) assert.match(why, /node-1 reported VM dep_1 at .* not inside the node's \/64/);
    });
  }
});
