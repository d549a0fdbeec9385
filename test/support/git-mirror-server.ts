// The cluster suite's git mirror: `git http-backend` behind node:http, run in a pod of the
// controller's own image (node + git). GET /git/<owner>/<repo>.git/... serves clones and ref
// reads; a push (receive-pack) to a repository that does not exist yet creates it bare first,
// so the suite fills the mirror with plain `git push`. Imports only node builtins and the CGI
// bridge beside it: both files are shipped into the pod by a ConfigMap.
//
//   node git-mirror-server.ts <root> <port>
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { runGitHttpBackend } from './git-http-backend-cgi.ts';

const [root = '/srv/git', portText = '8080'] = process.argv.slice(2);
const REPO = /^\/([A-Za-z0-9._-]+\/[A-Za-z0-9._-]+\.git)(\/|$)/;

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://mirror');
  if (url.pathname === '/healthz') return void res.writeHead(200).end('ok\n');
  if (!url.pathname.startsWith('/git/')) return void res.writeHead(404).end('not found\n');
  const pathInfo = decodeURIComponent(url.pathname.slice('/git'.length));
  const repo = REPO.exec(pathInfo)?.[1];
  if (!repo || repo.includes('..')) return void res.writeHead(404).end('not a repository path\n');
  const pushing = url.searchParams.get('service') === 'git-receive-pack' || pathInfo.endsWith('/git-receive-pack');
  if (pushing && !existsSync(join(root, repo))) execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', join(root, repo)]);
  runGitHttpBackend(req, res, {
    root,
    pathInfo,
    remoteUser: 'ci',
    // Anonymous pushes: this mirror lives only as long as one test run.
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp', GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.receivepack', GIT_CONFIG_VALUE_0: 'true' },
  });
  const path = pathInfo;
  res.on('finish', () => console.log(`${req.method} ${path} ${res.statusCode}`));
});

server.listen(Number(portText), '0.0.0.0', () => console.log(`git mirror on :${portText}, repositories under ${root}`));
