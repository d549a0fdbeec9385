import type { FollowerReport } from './observer.ts';

/**
 * One follower's tick as one line: phase, then the reason. A dispatch's reason already names the
 * run ("dispatched NAME (sha attempt N)"), so the run is added only when the reason does not
 * say it (an adopted dispatch, a reason from an earlier write).
 */
export const reportLine = (r: FollowerReport): string => {
  const run = r.dispatched && !r.reason.includes(r.dispatched.replace(/ \(adopted\)$/, '')) ? ` dispatched ${r.dispatched}` : '';
  const adopted = r.dispatched?.endsWith(' (adopted)') && !run ? ' (adopted)' : '';
  const error = r.error ? ` ERROR ${r.error}` : '';
  return `${r.id}: ${r.phase ?? '-'}${run}${error}${r.reason ? ` ${r.reason}` : ''}${adopted}`;
};
