/**
 * A self-signed certificate made for one run, for `--gateway-tls`: an EC
 * P-256 key and an X.509 v3 certificate for 127.0.0.1, ::1 and localhost,
 * valid for a day. Node's crypto makes and signs the key; this module writes
 * the few DER structures a certificate needs (no dependency, no openssl).
 */
import { generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, ...parts: Buffer[]): Buffer => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
};
const seq = (...parts: Buffer[]): Buffer => tlv(0x30, ...parts);
const set = (...parts: Buffer[]): Buffer => tlv(0x31, ...parts);

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const out = [40 * a + b];
  for (const n of rest) {
    const chunk: number[] = [];
    let v = n;
    do {
      chunk.unshift(v & 0x7f);
      v >>= 7;
    } while (v > 0);
    for (let i = 0; i < chunk.length - 1; i++) chunk[i] = (chunk[i] as number) | 0x80;
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** A non-negative DER INTEGER: minimal, so no leading zero byte but the one a set high bit needs. */
export function integer(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const minimal = bytes.subarray(start);
  return tlv(0x02, (minimal[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), minimal]) : minimal.length ? minimal : Buffer.from([0]));
}

function utcTime(d: Date): Buffer {
  const p = (n: number): string => String(n).padStart(2, '0');
  return tlv(0x17, Buffer.from(`${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`));
}

const name = (cn: string): Buffer => seq(set(seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(cn, 'utf8')))));

export interface RunCertificate {
  key: string;
  cert: string;
  /** SHA-256 fingerprint, for logs and for a target's pinning settings. */
  fingerprint: string;
}

export function makeCertificate(hosts: readonly string[] = ['127.0.0.1', '::1', 'localhost']): RunCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const ecdsaSha256 = seq(oid('1.2.840.10045.4.3.2'));
  const now = Date.now();
  const altNames = hosts.map((h) => {
    const v4 = /^\d+\.\d+\.\d+\.\d+$/.test(h);
    if (v4) return tlv(0x87, Buffer.from(h.split('.').map(Number)));
    if (h === '::1') return tlv(0x87, Buffer.from([...Array(15).fill(0), 1]));
    return tlv(0x82, Buffer.from(h, 'ascii'));
  });
  const extensions = tlv(
    0xa3,
    seq(
      seq(oid('2.5.29.17'), tlv(0x04, seq(...altNames))),
      // basicConstraints: not a CA.
      seq(oid('2.5.29.19'), tlv(0x04, seq())),
    ),
  );
  // Positive and of full length: the first byte is neither 0 nor above 0x7f.
  const serial = randomBytes(12);
  serial[0] = ((serial[0] as number) & 0x7f) | 0x40;
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))),
    integer(serial),
    ecdsaSha256,
    name('pushers conformance mock gateway'),
    seq(utcTime(new Date(now - 60_000)), utcTime(new Date(now + 24 * 3600_000))),
    name('pushers conformance mock gateway'),
    spki,
    extensions,
  );
  const signature = sign('sha256', tbs, privateKey);
  const der = seq(tbs, ecdsaSha256, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const cert = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
  const x509 = new X509Certificate(cert);
  return { key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, cert, fingerprint: x509.fingerprint256 };
}
