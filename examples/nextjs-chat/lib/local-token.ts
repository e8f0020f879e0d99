// Offline sign-in, on the Next.js server only: when no Clerk keys are set, a token for one local
// user comes from promptkit's own command line (`promptkit token <user>`), signed by the local
// key that the promptkit server trusts in that mode. The private key never leaves that machine
// and nothing secret is built into the browser bundle; the browser only ever sees a short-lived
// user token. Anyone who can open this app is that user: it is for running on your own machine.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

import { tokenExpiry } from "./token-expiry";

const run = promisify(execFile);
const RENEW_BEFORE_EXPIRY_SECONDS = 300;

let cached: { token: string; expiresAt: number } | null = null;

export function localUser(): string {
  return process.env.PROMPTKIT_LOCAL_USER || "local-user";
}

/** A token for the local user, renewed a few minutes before it expires. */
export async function localToken(): Promise<string> {
  const now = Date.now() / 1000;
  if (cached && cached.expiresAt - RENEW_BEFORE_EXPIRY_SECONDS > now) return cached.token;
  // PROMPTKIT_CLI is the `promptkit` executable; run it where the promptkit server runs
  // (PROMPTKIT_CLI_CWD) so that it finds the same `.env` and local key.
  const { stdout } = await run(process.env.PROMPTKIT_CLI || "promptkit", ["token", localUser()], {
    cwd: process.env.PROMPTKIT_CLI_CWD || process.cwd(),
    timeout: 30_000,
  });
  const token = stdout.trim();
  cached = { token, expiresAt: tokenExpiry(token) ?? now + 600 };
  return token;
}
