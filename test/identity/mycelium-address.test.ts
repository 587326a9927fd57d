// Mycelium addresses: the known answer, RFC 5952 normalisation, 400::/7 membership, /64s, VM addresses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AddressError,
  fromHex,
  generateX25519KeyPair,
  isInSubnet64,
  isMyceliumAddress,
  myceliumAddressOfKey,
  normaliseIpv6,
  normaliseSubnet64,
  parseIpv6,
  parseMyceliumAddress,
  parseSubnet64,
  sameSubnet64,
  subnet64,
  toHex,
  vmAddress,
  x25519PublicKey,
} from '../../src/identity/index.js';
import { readVectors } from '../helpers/paths.js';

interface Vectors {
  keys: Array<{ name: string; x25519SecretKeyHex: string; x25519PublicKeyHex: string; address: string; subnet: string }>;
  normalise: Array<{ in: string; out: string }>;
  inMycelium: string[];
  notMycelium: Array<{ name: string; address: string }>;
  unparseable: string[];
}
const v = readVectors<Vectors>('mycelium-address.json');

for (const k of v.keys) {
  test(`known answer: ${k.name}`, () => {
    assert.equal(toHex(x25519PublicKey(fromHex('sk', k.x25519SecretKeyHex, 32))), k.x25519PublicKeyHex);
    const address = myceliumAddressOfKey(fromHex('pk', k.x25519PublicKeyHex, 32));
    assert.equal(address, k.address);
    assert.equal(subnet64(address), k.subnet);
  });
}

test('RFC 5952 normalisation table', () => {
  for (const row of v.normalise) assert.equal(normaliseIpv6(row.in), row.out, row.in);
});

test('addresses in 400::/7 are accepted and normalised', () => {
  for (const a of v.inMycelium) {
    assert.equal(isMyceliumAddress(a), true, a);
    assert.equal(parseMyceliumAddress(a).address, normaliseIpv6(a));
  }
});

for (const row of v.notMycelium) {
  test(`outside 400::/7 is refused: ${row.name}`, () => {
    assert.equal(isMyceliumAddress(row.address), false);
    assert.throws(() => parseMyceliumAddress(row.address), AddressError);
  });
}

test('IPv4-mapped addresses say so in the refusal', () => {
  assert.throws(() => parseMyceliumAddress('::ffff:10.1.2.3'), /IPv4-mapped/);
});

test('unparseable texts are refused with AddressError', () => {
  for (const text of v.unparseable) assert.throws(() => parseIpv6(text), AddressError, JSON.stringify(text));
  assert.throws(() => parseIpv6(42), TypeError);
});

test('derived addresses of random keys are always in 400::/7 with the parity rule on byte 0', () => {
  for (let i = 0; i < 500; i++) {
    const { publicKey } = generateX25519KeyPair();
    const address = myceliumAddressOfKey(publicKey);
    const bytes = parseIpv6(address);
    assert.equal(isMyceliumAddress(address), true);
    assert.ok(bytes[0] === 0x04 || bytes[0] === 0x05);
  }
});

test('the /64 of an address zeroes the last 64 bits, and parseSubnet64 reads it back', () => {
  const s = subnet64('4a1:2:3:4:5:6:7:8');
  assert.equal(s, '4a1:2:3:4::/64');
  assert.equal(toHex(parseSubnet64(s)), '04a1000200030004');
  assert.throws(() => parseSubnet64('4a1:2:3:4::1/64'), /host bits/);
  assert.throws(() => parseSubnet64('2001:db8::/64'), /outside 400::\/7/);
  assert.throws(() => parseSubnet64('4a1:2:3:4::/48'), /not a \/64/);
});

test('a VM address is the /64 prefix, then ff0f, then the 6-byte seed', () => {
  const prefix = parseSubnet64('4a1:2:3:4::/64');
  assert.equal(vmAddress(prefix, fromHex('seed', 'a1b2c3d4e5f6', 6)), '4a1:2:3:4:ff0f:a1b2:c3d4:e5f6');
  assert.throws(() => vmAddress(prefix, new Uint8Array(5)), RangeError);
});

test('normaliseSubnet64: every text form of a /64 has one normal form, so "4a1:0:0:0::/64" matches "4a1::/64"', () => {
  for (const text of ['4a1:0:0:0::/64', '4A1::/64', '04a1:0000::/64', ' 4a1:0:0:0:0:0:0:0/64', '[4a1::]/64']) {
    assert.equal(normaliseSubnet64(text), '4a1::/64', text);
    assert.equal(sameSubnet64(text, '4a1::/64'), true, text);
  }
  assert.equal(normaliseSubnet64('5A1:2:3:4::/64'), '5a1:2:3:4::/64');
  assert.equal(sameSubnet64('4a1::/64', '4a2::/64'), false);
  assert.equal(sameSubnet64('nope', 'nope'), false, 'two equal texts that are not /64s do not match');
  for (const bad of ['4a1::1/64', '2001:db8::/64', '4a1::/48', 'x']) assert.throws(() => normaliseSubnet64(bad), AddressError, bad);
});

test('isInSubnet64: an address is in a /64 given in any text form; addresses elsewhere, and garbage, are not', () => {
  assert.equal(isInSubnet64('4a1::ff0f:1:2:3', '4a1:0:0:0::/64'), true);
  assert.equal(isInSubnet64('4A1:0:0:0:FF0F::9', '4a1::/64'), true);
  assert.equal(isInSubnet64('4a1:0:0:1::1', '4a1::/64'), false, 'the next /64');
  assert.equal(isInSubnet64('5b2::1', '4a1::/64'), false);
  assert.equal(isInSubnet64('not an address', '4a1::/64'), false);
  assert.equal(isInSubnet64('4a1::1', 'not a subnet'), false);
});
