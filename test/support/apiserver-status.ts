// metav1.Status bodies worded as kube-apiserver words them, so error handling written against the
// double reads the same reasons, codes and messages it will meet on a cluster.

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code?: number;
}

/** Thrown by handlers; the server turns it into the Status response. */
export class ApiError extends Error {
  readonly status: Status;
  readonly headers: Record<string, string>;

  constructor(status: Status, headers: Record<string, string> = {}) {
    super(status.message ?? status.reason ?? `HTTP ${status.code ?? 500}`);
    this.status = status;
    this.headers = headers;
  }
}

/** Group and plural resource, e.g. `configmaps` or `jobs.batch`, as error messages print them. */
export interface GroupResource {
  group: string;
  resource: string;
}

function qualified(gr: GroupResource): string {
  return gr.group === '' ? gr.resource : `${gr.resource}.${gr.group}`;
}

function baseDetails(gr: GroupResource, name: string): StatusDetails {
  return gr.group === '' ? { name, kind: gr.resource } : { name, group: gr.group, kind: gr.resource };
}

export function failure(code: number, reason: string, message: string, details?: StatusDetails): Status {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

const reasonsByCode: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Expired',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

export function reasonForCode(code: number): string {
  return reasonsByCode[code] ?? (code >= 500 ? 'InternalError' : 'Unknown');
}

export function notFound(gr: GroupResource, name: string): ApiError {
  return new ApiError(failure(404, 'NotFound', `${qualified(gr)} "${name}" not found`, baseDetails(gr, name)));
}

export function alreadyExists(gr: GroupResource, name: string): ApiError {
  return new ApiError(failure(409, 'AlreadyExists', `${qualified(gr)} "${name}" already exists`, baseDetails(gr, name)));
}

export function conflict(gr: GroupResource, name: string, why: string): ApiError {
  return new ApiError(
    failure(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(gr)} "${name}": ${why}`, baseDetails(gr, name)),
  );
}

export const modifiedMessage =
  'the object has been modified; please apply your changes to the latest version and try again';

/** `kind` is the qualified Kind (e.g. `Job.batch`), as in `Job.batch "x" is invalid: ...`. */
export function invalid(qualifiedKind: string, group: string, kind: string, name: string, causes: StatusCause[]): ApiError {
  const rendered = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
  const summary = rendered.length === 1 ? rendered[0] : `[${rendered.join(', ')}]`;
  const details: StatusDetails = group === '' ? { name, kind, causes } : { name, group, kind, causes };
  return new ApiError(failure(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${summary}`, details));
}

export function badRequest(message: string): ApiError {
  return new ApiError(failure(400, 'BadRequest', message));
}

export function methodNotAllowed(method: string): ApiError {
  return new ApiError(failure(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`), {
    Allow: method,
  });
}

export function unsupportedMediaType(contentType: string, accepted: string[]): ApiError {
  return new ApiError(
    failure(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
    ),
    { 'X-Rejected-Content-Type': contentType },
  );
}

export function notFoundPath(): ApiError {
  return new ApiError(failure(404, 'NotFound', 'the server could not find the requested resource', {}));
}

/** What an immediate delete answers; like the real server it carries no `code`. */
export function success(gr: GroupResource, name: string, uid: string): Status {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: { ...baseDetails(gr, name), uid },
  };
}
