// A CGI program's answer (git http-backend's) split into status, headers and body. Imports
// nothing: the cluster suite's git mirror ships this file into its pod beside its server.

/** Splits a CGI response's header block from its body. */
export const splitCgi = (buf: Buffer): { headers: [string, string][]; status: number; body: Buffer } | null => {
  let end = buf.indexOf('\r\n\r\n');
  let sep = 4;
  const lf = buf.indexOf('\n\n');
  if (lf !== -1 && (end === -1 || lf < end)) {
    end = lf;
    sep = 2;
  }
  if (end === -1) return null;
  const headers: [string, string][] = [];
  let status = 200;
  for (const line of buf.subarray(0, end).toString('latin1').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
    else headers.push([name, value]);
  }
  return { headers, status, body: buf.subarray(end + sep) };
};
