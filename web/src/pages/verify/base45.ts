/** Base45 (RFC 9285): the QR alphanumeric alphabet, 3 characters for every 2 bytes. */
const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
const VALUE = new Map([...ALPHABET].map((c, i) => [c, i]));

export class Base45Error extends Error {}

export function base45Decode(text: string): Uint8Array {
  if (text.length % 3 === 1) throw new Base45Error("length");
  const out = new Uint8Array(Math.floor(text.length / 3) * 2 + (text.length % 3 === 2 ? 1 : 0));
  let o = 0;
  for (let i = 0; i < text.length; i += 3) {
    const digits = [...text.slice(i, i + 3)].map((c) => {
      const v = VALUE.get(c);
      if (v === undefined) throw new Base45Error(`character ${c}`);
      return v;
    });
    const n = digits[0] + digits[1] * 45 + (digits.length === 3 ? digits[2] * 2025 : 0);
    if (digits.length === 3) {
      if (n > 0xffff) throw new Base45Error("value");
      out[o++] = n >> 8;
      out[o++] = n & 0xff;
    } else {
      if (n > 0xff) throw new Base45Error("value");
      out[o++] = n;
    }
  }
  return out;
}
