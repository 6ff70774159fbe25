// Container image references as the kube-apiserver reads them to default imagePullPolicy.
//
// Kubernetes parses the image with github.com/distribution/reference (ParseNormalizedNamed): a
// reference without tag and digest means ":latest", so it gets `Always`; so does an explicit
// ":latest" (even with a digest). Anything else, including a reference the parser rejects (upper-case
// repository, empty image), gets `IfNotPresent`. The grammar below is the library's, anchored.

const ALPHANUMERIC = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALPHANUMERIC}(?:${SEPARATOR}${ALPHANUMERIC})*`;
const DOMAIN_NAME_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_NAME_COMPONENT}(?:\\.${DOMAIN_NAME_COMPONENT})*`;
const IPV6_ADDRESS = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN_AND_PORT = `(?:${DOMAIN_NAME}|${IPV6_ADDRESS})(?::[0-9]+)?`;
const NAME = `(?:${DOMAIN_AND_PORT}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const IDENTIFIER = /^[a-f0-9]{64}$/;
const NAME_TOTAL_LENGTH_MAX = 255;
/** Digest algorithms Kubernetes links in (crypto/sha256 and crypto/sha512), with their hex lengths. */
const DIGEST_HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };

export interface ImageReference {
  /** Fully qualified repository, e.g. docker.io/library/nginx. */
  repository: string;
  tag?: string;
  digest?: string;
}

/** splitDockerDomain: images without a registry live on docker.io, official ones under library/. */
function normalize(image: string): { domain: string; remainder: string } {
  const slash = image.indexOf('/');
  let domain: string;
  let remainder: string;
  const first = slash === -1 ? '' : image.slice(0, slash);
  if (slash === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = 'docker.io';
    remainder = image;
  } else {
    domain = first;
    remainder = image.slice(slash + 1);
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (domain === 'docker.io' && !remainder.includes('/')) remainder = `library/${remainder}`;
  return { domain, remainder };
}

function validDigest(digest: string): boolean {
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const length = DIGEST_HEX_LENGTH[algorithm];
  return length !== undefined && hex.length === length && /^[a-f0-9]+$/.test(hex);
}

/** ParseNormalizedNamed; undefined when Kubernetes would not understand the image. */
export function parseImageReference(image: string): ImageReference | undefined {
  if (IDENTIFIER.test(image)) return undefined;
  const { domain, remainder } = normalize(image);
  const tagSeparator = remainder.indexOf(':');
  const remote = tagSeparator === -1 ? remainder : remainder.slice(0, tagSeparator);
  if (remote.toLowerCase() !== remote) return undefined;
  const match = REFERENCE.exec(`${domain}/${remainder}`);
  if (!match) return undefined;
  const [, repository, tag, digest] = match;
  if (repository!.length > NAME_TOTAL_LENGTH_MAX) return undefined;
  if (digest !== undefined && !validDigest(digest)) return undefined;
  const reference: ImageReference = { repository: repository! };
  if (tag !== undefined) reference.tag = tag;
  if (digest !== undefined) reference.digest = digest;
  return reference;
}

/** SetDefaults_Container: `Always` for ":latest" or no tag and no digest, else `IfNotPresent`. */
export function defaultImagePullPolicy(image: string): 'Always' | 'IfNotPresent' {
  const reference = parseImageReference(image);
  if (reference === undefined) return 'IfNotPresent';
  const tag = reference.tag ?? (reference.digest === undefined ? 'latest' : '');
  return tag === 'latest' ? 'Always' : 'IfNotPresent';
}
