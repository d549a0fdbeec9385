// No echoed secrets, no echoed content: properties over generated messages.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { charClass, describeContent, notJson } from '../../src/core/describe-content.ts';
import { parseRevision } from '../../src/core/revision.ts';
import { MASK, MIN_SECRET_LENGTH, maskUserinfo, redact, secretNeedles } from '../../src/core/redact.ts';
import { fcParams } from '../support/arbitraries.ts';

// Filler is lower-case words and punctuation; secrets and passwords use upper case, digits and
// symbols: a secret can then only appear in a message where the generator put it.
const word = fc.constantFrom('git', 'mirror', 'unreachable', 'connect', 'refused', 'target', 'reader', 'exited', 'with', 'code', 'at', 'for', 'the', 'tick', 'error', 'fetch', 'failed');
const filler = fc.array(fc.oneof(word, fc.constantFrom(' ', ', ', ': ', '; ', ' (', ') ', '\n', '"', "'", '=', ' -> ')), { maxLength: 12 }).map((xs) => xs.join(''));
const SECRET_CHARS = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-'];
const secretArb = fc.string({ unit: fc.constantFrom(...SECRET_CHARS), minLength: MIN_SECRET_LENGTH, maxLength: 48 });
const PASSWORD_CHARS = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!$%&*+,;=~.-:'];
const passwordArb = fc.string({ unit: fc.constantFrom(...PASSWORD_CHARS), minLength: 1, maxLength: 32 });
const userArb = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789._-'), minLength: 1, maxLength: 16 });
const hostArb = fc.constantFrom('git-mirror.git-mirror.svc.cluster.local', '10.0.0.7:8080', 'hooks.slack.com', '[::1]:9418', 'example.org');
const schemeArb = fc.constantFrom('http', 'https', 'git', 'ftp', 'ssh');
const pathArb = fc.constantFrom('', '/', '/git/pikasTech/HWLAB.git', '/services/T000/B000', '/a?b=c');

type Part = { kind: 'text'; text: string } | { kind: 'secret'; value: string; encoded: boolean } | { kind: 'url'; scheme: string; user: string; password: string | null; host: string; path: string };

const partArb: fc.Arbitrary<Part> = fc.oneof(
  filler.map((text) => ({ kind: 'text' as const, text })),
  fc.record({ kind: fc.constant('url' as const), scheme: schemeArb, user: userArb, password: fc.option(passwordArb, { nil: null }), host: hostArb, path: pathArb }),
  fc.record({ kind: fc.constant('secret' as const), value: secretArb, encoded: fc.boolean() }),
);

const render = (p: Part, secrets: readonly string[]): string => {
  switch (p.kind) {
    case 'text':
      return p.text;
    case 'secret':
      return p.encoded ? encodeURIComponent(p.value) : p.value;
    case 'url':
      return `${p.scheme}://${p.user}${p.password === null ? '' : `:${p.password}`}@${p.host}${p.path}${secrets.length ? '' : ''}`;
  }
};

const messageArb = fc.record({ secrets: fc.array(secretArb, { minLength: 0, maxLength: 3 }), parts: fc.array(partArb, { maxLength: 10 }) }).map(({ secrets, parts }) => {
  // Secret parts name one of the known secrets when there are any.
  const fixed = parts.map((p, i) => (p.kind === 'secret' && secrets.length ? { ...p, value: secrets[i % secrets.length] as string } : p));
  return { secrets, parts: fixed, text: fixed.map((p) => render(p, secrets)).join(' ') };
});

describe('redaction (every message that leaves the process)', () => {
  it('leaves no known secret value, plain or percent-encoded, and no URL password or token-as-user in any generated message', () => {
    fc.assert(
      fc.property(messageArb, ({ secrets, parts, text }) => {
        const out = redact(text, secretNeedles(secrets));
        for (const s of secrets) {
          expect(out).not.toContain(s);
          expect(out).not.toContain(encodeURIComponent(s));
        }
        for (const p of parts) {
          if (p.kind !== 'url') continue;
          if (p.password !== null) {
            expect(out).not.toContain(`:${p.password}@`);
            expect(out).toContain(`${p.scheme}://${p.user}:${MASK}@`);
          } else {
            // A lone user name may be a token: masked whole.
            expect(out).not.toContain(`://${p.user}@`);
          }
        }
      }),
      fcParams(),
    );
  });

  it('is idempotent, and changes nothing in a message with no URL userinfo and no secret', () => {
    fc.assert(
      fc.property(messageArb, filler, ({ secrets, text }, plain) => {
        const needles = secretNeedles(secrets);
        const once = redact(text, needles);
        expect(redact(once, needles)).toBe(once);
        expect(redact(plain, needles)).toBe(plain);
        expect(maskUserinfo(plain)).toBe(plain);
      }),
      fcParams(),
    );
  });

  it('masks the parts of a URL-valued secret a client may print without its host', () => {
    const webhook = 'https://hooks.slack.com/services/T0AAAA/B0BBBB/XXXXXXXXXXXXXXXXXXXXXXXX';
    const needles = secretNeedles([webhook]);
    for (const leak of [webhook, '/services/T0AAAA/B0BBBB/XXXXXXXXXXXXXXXXXXXXXXXX', encodeURIComponent(webhook)]) {
      expect(redact(`POST ${leak} failed: 500`, needles)).toBe(`POST ${MASK} failed: 500`);
    }
    // Short values are no secrets to mask: they would garble every message.
    expect(secretNeedles(['abc', '', undefined, null])).toEqual([]);
  });

  it('the refused read URL keeps its user and loses its password', () => {
    expect(maskUserinfo('git mirror read URL "http://alice:s3cr3t-P4ss@mirror.local/git" embeds credentials')).toBe(
      'git mirror read URL "http://alice:***@mirror.local/git" embeds credentials',
    );
    expect(maskUserinfo('https://ghp_token123456@github.com/x')).toBe('https://***@github.com/x');
  });
});

describe('describing content without echoing it', () => {
  it('never contains a run of the described text, only sizes, counts and character classes', () => {
    // Content drawn from letters and symbols the description's own words never use in a row.
    const content = fc.string({ unit: fc.constantFrom(...'QXZJK:/#!@0123456789\n\t '), minLength: 1, maxLength: 300 });
    fc.assert(
      fc.property(content, fc.boolean(), (text, asJson) => {
        let parserMessage = '';
        try {
          JSON.parse(text);
        } catch (e) {
          parserMessage = (e as Error).message;
        }
        // A stored object that is not JSON, or a target's revision that is not one: described, never quoted.
        const rev = parseRevision(text);
        const d = asJson ? notJson(text, parserMessage) : rev.ok ? '' : rev.why;
        // Any 4 characters of the content that carry a letter would be an echo.
        for (let i = 0; i + 4 <= text.length; i++) {
          const run = text.slice(i, i + 4);
          if (/[QXZJK]/.test(run)) expect(d).not.toContain(run);
        }
        if (asJson) expect(d).toMatch(/^not JSON \(\d+ bytes? in \d+ lines?/);
      }),
      fcParams(),
    );
  });

  it('names size, lines and the first character that does not belong', () => {
    const passwd = 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n';
    expect(describeContent(passwd, (ch) => /[0-9a-f]/.test(ch))).toBe('80 bytes in 2 lines; the first character that does not belong is a letter, at character 1');
    expect(parseRevision(passwd)).toEqual({ ok: false, why: expect.stringMatching(/^holds more than one word \(\d+ characters in 2 line\(s\)\)/) });
    expect(parseRevision('v1.2.3-token')).toEqual({ ok: false, why: expect.stringMatching(/^is 12 characters that are not a commit sha \(first stray: a letter at 1\)/) });
    expect(describeContent('é', () => false)).toBe('2 bytes in 1 line; the first character that does not belong is a non-ASCII character, at character 1');
    expect(charClass('\u0007')).toBe('a control character');
    expect(charClass('{')).toBe('punctuation');
    expect(notJson('{"a":1 x', 'Expected \',\' or \'}\' after property value in JSON at position 7 (line 1 column 8)')).toBe('not JSON (8 bytes in 1 line; it breaks at line 1 column 8)');
  });
});
