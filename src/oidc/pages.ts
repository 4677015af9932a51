/**
 * The provider's pages, rendered on the server: plain HTML forms that work without JavaScript
 * (sign-in, consent, refusal, sign-out). Every value from a request or the store is escaped.
 */

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

const STYLE =
  'body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0}main{max-width:22rem;margin:4rem auto;background:#fff;padding:1.5rem 2rem;border-radius:6px;box-shadow:0 1px 3px rgba(0,0,0,.2)}' +
  'h1{font-size:1.3rem}label{display:block;margin:.8rem 0 .2rem}input{width:100%;box-sizing:border-box;padding:.4rem}button{margin-top:1rem;padding:.5rem 1rem}.error{color:#a40000}ul{padding-left:1.2rem}';

/**
 * The pages' Content-Security-Policy: nothing but inline style, and forms that may post to this
 * origin and be redirected on to `formTargets` (a browser checks form-action on every redirect
 * after a submission, and a sign-in ends at the application's redirect URI).
 */
export function pageCsp(formTargets: readonly string[]): string {
  const origins = [
    ...new Set(
      formTargets.flatMap((target) => {
        try {
          return [new URL(target).origin];
        } catch {
          return [];
        }
      }),
    ),
  ];
  return `default-src 'none'; style-src 'unsafe-inline'; form-action 'self' ${origins.join(' ')}; frame-ancestors 'none'; base-uri 'none'`.replace(
    / {2,}/g,
    ' ',
  );
}

/** A whole page around `body` (trusted HTML), titled `title` (text). */
export function renderPage(page: { title: string; body: string }): string {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(page.title)} · dirbridge</title><style>${STYLE}</style></head><body><main><h1>${escapeHtml(page.title)}</h1>${page.body}</main></body></html>`;
}

/** The sign-in form; `error` is the uniform message of a failed attempt. */
export function renderSignIn(input: { action: string; clientName: string; username?: string; error?: string }): string {
  return renderPage({
    title: 'Sign in',
    body:
      `<p>to continue to <strong>${escapeHtml(input.clientName)}</strong></p>` +
      (input.error === undefined ? '' : `<p class="error" role="alert">${escapeHtml(input.error)}</p>`) +
      `<form method="post" action="${escapeHtml(input.action)}">` +
      `<label for="username">Username</label><input id="username" name="username" autocomplete="username" required autofocus value="${escapeHtml(input.username ?? '')}">` +
      '<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>' +
      '<button type="submit">Sign in</button></form>',
  });
}

/** The consent form, listing the scopes asked for. */
export function renderConsent(input: { action: string; clientName: string; scopes: readonly string[] }): string {
  return renderPage({
    title: 'Allow access',
    body:
      `<p><strong>${escapeHtml(input.clientName)}</strong> asks for:</p><ul>${input.scopes.map((scope) => `<li>${escapeHtml(scope)}</li>`).join('')}</ul>` +
      `<form method="post" action="${escapeHtml(input.action)}"><button type="submit" name="decision" value="allow">Allow</button> <button type="submit" name="decision" value="deny">Deny</button></form>`,
  });
}

/** The page shown to a user the client does not admit. */
export function renderRefused(input: { clientName: string }): string {
  return renderPage({
    title: 'Access denied',
    body: `<p class="error" role="alert">Your account may not sign in to <strong>${escapeHtml(input.clientName)}</strong>. Ask an administrator for access.</p>`,
  });
}
