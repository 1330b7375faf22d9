// A small built-in list of paths that hold credentials, for the "revoke"
// step: what an agent read that someone should rotate. The real catalogue of
// sensitive data comes with the sensitive-data work; this list covers the
// usual suspects so that `sensor collect` and `sensor timeline` can name them.
export interface CredentialClass {
  kind: string;
  /** what to rotate, in a few words */
  rotate: string;
  test: (path: string) => boolean;
}

const has = (re: RegExp) => (p: string) => re.test(p);

export const CREDENTIAL_CLASSES: CredentialClass[] = [
  { kind: 'ssh-private-key', rotate: 'SSH key pair (remove the public key from authorized_keys and forges)', test: has(/\/\.ssh\/id_[^/]*$/) },
  { kind: 'ssh-other', rotate: 'SSH keys named in this file', test: has(/\/\.ssh\/(?!known_hosts|authorized_keys|config$)[^/]*(key|pem)$/) },
  { kind: 'aws-credentials', rotate: 'AWS access keys', test: has(/\/\.aws\/(credentials|config)$/) },
  { kind: 'gcloud', rotate: 'Google Cloud credentials', test: has(/\/\.config\/gcloud\/|application_default_credentials\.json$/) },
  { kind: 'azure', rotate: 'Azure credentials', test: has(/\/\.azure\//) },
  { kind: 'kubeconfig', rotate: 'Kubernetes tokens/certificates', test: has(/\/\.kube\/config$/) },
  { kind: 'docker-auth', rotate: 'registry credentials', test: has(/\/\.docker\/config\.json$/) },
  { kind: 'dotenv', rotate: 'secrets in this .env file', test: has(/\/\.env(\.[^/]*)?$/) },
  { kind: 'netrc', rotate: 'passwords in .netrc', test: has(/\/\.netrc$/) },
  { kind: 'git-credentials', rotate: 'git forge tokens', test: has(/\/\.git-credentials$|\/\.config\/gh\/hosts\.yml$/) },
  { kind: 'package-registry', rotate: 'package registry tokens', test: has(/\/\.(npmrc|pypirc)$|\/\.cargo\/credentials(\.toml)?$/) },
  { kind: 'gpg', rotate: 'GPG private keys', test: has(/\/\.gnupg\/(private-keys-v1\.d\/|secring)/) },
  { kind: 'password-store', rotate: 'system password hashes', test: has(/^\/etc\/(shadow|gshadow)$/) },
];

/** The class of a credential path, or null. */
export function credentialClass(path: string): CredentialClass | null {
  return CREDENTIAL_CLASSES.find((c) => c.test(path)) ?? null;
}
