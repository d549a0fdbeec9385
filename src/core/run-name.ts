/**
 * The deterministic name of a dispatch: the same (follower, sha, episode, attempt) always yields
 * the same name, so a second create answers AlreadyExists and is adopted instead of run again;
 * another visit of the same sha (a new episode) gets another name, so a finished Job of an
 * earlier visit, still alive for its TTL, is never adopted as the run of a later one.
 * Kubernetes Job names must be DNS-1123 labels of at most 63 characters; a follower id of up
 * to 40 characters fits as is up to episode 99 (attempt 9); longer names are cut and made
 * unique with a hash of the whole tuple.
 */
export const RUN_NAME_MAX = 63;

export const runName = (followerId: string, sha: string, episode: number, attempt: number): string => {
  const tail = `-${sha.slice(0, 12)}-e${episode}-a${attempt}`;
  const full = `bf-${followerId}${tail}`;
  if (full.length <= RUN_NAME_MAX) return full;
  const hash = fnv1a32(`${followerId}/${sha}/${episode}/${attempt}`);
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
