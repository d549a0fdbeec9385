/**
 * The deterministic name of a dispatch: the same (follower, sha, attempt) always yields the
 * same name, so a second create answers AlreadyExists and is adopted instead of run again.
 * Kubernetes Job names must be DNS-1123 labels of at most 63 characters; follower ids of up
 * to 40 characters fit as is, longer prefixes are cut and made unique with a hash.
 */
export const RUN_NAME_MAX = 63;

export const runName = (followerId: string, sha: string, attempt: number): string => {
  const tail = `-${sha.slice(0, 12)}-a${attempt}`;
  const full = `bf-${followerId}${tail}`;
  if (full.length <= RUN_NAME_MAX) return full;
  const hash = fnv1a32(`${followerId}/${sha}/${attempt}`);
  const room = RUN_NAME_MAX - tail.length - hash.length - 1;
  const head = `bf-${followerId}`.slice(0, room).replace(/-+$/, '');
  return `${head}-${hash}${tail}`;
};

/** FNV-1a: a tiny stable hash, enough to keep cut names apart (not a security boundary). */
export const fnv1a32 = (text: string): string => {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
};
