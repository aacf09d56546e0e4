import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestCertificate {
  readonly cert: string;
  readonly key: string;
  /** The certificate's PEM text, to compare with what a TLS peer presented. */
  readonly pem: string;
}

/**
 * A throw-away self-signed certificate for `names` (DNS names; 127.0.0.1 is always added so
 * loopback clients that verify against it can), written under a fresh temporary directory.
 * Needs the `openssl` command line tool.
 */
export function selfSignedCertificate(...names: string[]): TestCertificate {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgepush-cert-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const san = [...names.map((n) => `DNS:${n}`), 'IP:127.0.0.1'].join(',');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', `/CN=${names[0] ?? 'localhost'}`, '-addext', `subjectAltName=${san}`, '-keyout', key, '-out', cert],
    { stdio: 'pipe' },
  );
  return { cert, key, pem: fs.readFileSync(cert, 'utf8') };
}
