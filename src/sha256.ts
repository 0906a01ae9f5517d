/**
 * SHA-256 (FIPS 180-4), synchronous, for cache keys.
 *
 * WebCrypto's `crypto.subtle.digest` is asynchronous: for the few dozen bytes of a key it costs a
 * round trip through the runtime's thread pool, several times the rest of a cache hit. This is
 * the same function computed in place, so keys are identical to the WebCrypto ones.
 *
 * @module
 */

const K = new Int32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);
const INITIAL = new Int32Array([
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19,
]);

const w = new Int32Array(64);
const state = new Int32Array(8);
const tail = new Uint8Array(128);
const tailView = new DataView(tail.buffer);
let scratch = new Uint8Array(256);
const encoder = new TextEncoder();
/** The base64url alphabet, as codes. */
const CODE = Uint8Array.from(
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
  (char) => char.charCodeAt(0),
);

/**
 * The SHA-256 digest of some bytes.
 *
 * @param bytes The message.
 * @returns The 32-byte digest.
 */
export function sha256(bytes: Uint8Array): Uint8Array {
  hash(bytes);
  const out = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    const word = state[i]!;
    out[i * 4] = word >>> 24;
    out[i * 4 + 1] = word >>> 16;
    out[i * 4 + 2] = word >>> 8;
    out[i * 4 + 3] = word;
  }
  return out;
}

/**
 * The first 128 bits of the SHA-256 digest of a string's UTF-8 bytes, in base64url without
 * padding: 22 characters.
 *
 * @param text The message.
 * @returns The digest text.
 */
export function digestText(text: string): string {
  // A URL's key (the common case) is ASCII and fits one block: its characters go straight into
  // the message schedule, with no encoding into bytes first.
  if (text.length <= 55 && oneBlockAscii(text)) {
    state.set(INITIAL);
    compress();
    return digestOfState();
  }
  // A UTF-8 encoding takes at most three bytes per UTF-16 unit.
  if (text.length * 3 + 72 > scratch.length) scratch = new Uint8Array(text.length * 3 + 72);
  const length = encoder.encodeInto(text, scratch).written;
  return digestBytes(scratch.subarray(0, length));
}

/**
 * Writes an ASCII text of at most 55 characters, padded as the last block of its message, into
 * the first 16 words of the schedule.
 *
 * @returns `false` (the words half written) when the text holds a character beyond ASCII.
 */
function oneBlockAscii(text: string): boolean {
  const length = text.length;
  let word = 0;
  let i = 0;
  for (; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) return false;
    word = (word << 8) | code;
    if ((i & 3) === 3) {
      w[i >> 2] = word;
      word = 0;
    }
  }
  // The 0x80 marker, then zeros up to the length in bits.
  word = (word << 8) | 0x80;
  i++;
  while ((i & 3) !== 0) {
    word <<= 8;
    i++;
  }
  w[(i >> 2) - 1] = word;
  for (let at = i >> 2; at < 15; at++) w[at] = 0;
  w[15] = length * 8;
  return true;
}

/**
 * The first 128 bits of the SHA-256 digest of some bytes, in base64url without padding.
 *
 * @param bytes The message.
 * @returns The digest text: 22 characters.
 */
export function digestBytes(bytes: Uint8Array): string {
  hash(bytes);
  return digestOfState();
}

/** The first 128 bits of `state`, in base64url without padding: 22 characters. */
function digestOfState(): string {
  // 128 bits: five groups of 24 bits (20 characters), then 8 bits (2 characters).
  const a = state[0]!, b = state[1]!, c = state[2]!, d = state[3]!;
  const c0 = a >>> 8, c1 = ((a & 0xff) << 16) | (b >>> 16), c2 = ((b & 0xffff) << 8) | (c >>> 24);
  const c3 = c & 0xffffff, c4 = d >>> 8;
  // One flat string: appending character by character builds a rope of a dozen parts, which
  // every map look-up by the key would first have to flatten.
  return String.fromCharCode(
    CODE[c0 >>> 18]!,
    CODE[(c0 >>> 12) & 63]!,
    CODE[(c0 >>> 6) & 63]!,
    CODE[c0 & 63]!,
    CODE[c1 >>> 18]!,
    CODE[(c1 >>> 12) & 63]!,
    CODE[(c1 >>> 6) & 63]!,
    CODE[c1 & 63]!,
    CODE[c2 >>> 18]!,
    CODE[(c2 >>> 12) & 63]!,
    CODE[(c2 >>> 6) & 63]!,
    CODE[c2 & 63]!,
    CODE[c3 >>> 18]!,
    CODE[(c3 >>> 12) & 63]!,
    CODE[(c3 >>> 6) & 63]!,
    CODE[c3 & 63]!,
    CODE[c4 >>> 18]!,
    CODE[(c4 >>> 12) & 63]!,
    CODE[(c4 >>> 6) & 63]!,
    CODE[c4 & 63]!,
    CODE[(d >>> 2) & 63]!,
    CODE[(d & 3) << 4]!,
  );
}

/** Hashes `message` into `state`. */
function hash(message: Uint8Array): void {
  state.set(INITIAL);
  const length = message.length;
  const full = length - (length % 64);
  for (let at = 0; at < full; at += 64) block(message, at);
  // The tail, the 0x80 marker and the 64-bit length in bits, in one or two blocks.
  const end = length % 64 < 56 ? 64 : 128;
  tail.fill(0);
  tail.set(message.subarray(full));
  tail[length - full] = 0x80;
  tailView.setUint32(end - 8, Math.floor(length / 0x20000000));
  tailView.setUint32(end - 4, (length * 8) >>> 0);
  for (let at = 0; at < end; at += 64) block(tail, at);
}

function block(bytes: Uint8Array, at: number): void {
  for (let i = 0; i < 16; i++) {
    const j = at + i * 4;
    w[i] = (bytes[j]! << 24) | (bytes[j + 1]! << 16) | (bytes[j + 2]! << 8) | bytes[j + 3]!;
  }
  compress();
}

/** Compresses the block whose 16 words are in `w` into `state`. */
function compress(): void {
  for (let i = 16; i < 64; i++) {
    const a = w[i - 15]!, b = w[i - 2]!;
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
  }
  let a = state[0]!, b = state[1]!, c = state[2]!, d = state[3]!;
  let e = state[4]!, f = state[5]!, g = state[6]!, h = state[7]!;
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
  state[4] = (state[4]! + e) | 0;
  state[5] = (state[5]! + f) | 0;
  state[6] = (state[6]! + g) | 0;
  state[7] = (state[7]! + h) | 0;
}
