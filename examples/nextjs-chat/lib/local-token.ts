// Offline sign-in, on the Next.js server only: when no Clerk keys are set, a token for one local
// user comes from promptkit's own command line (`promptkit token <user>`), signed by the local
// key that the promptkit server trusts in that mode. The private key never leaves that machine
// and nothing secret is built into the browser bundle; the browser only ever sees a short-lived
// user token. Anyone who can open this app is that user: it is for running on your own machine.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
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
  const { command, cwd } = promptkitCommand();
  const { stdout } = await run(command, ["token", localUser()], { cwd, timeout: 30_000 });
  const token = stdout.trim();
  cached = { token, expiresAt: tokenExpiry(token) ?? now + 600 };
  return token;
}

/**
 * The `promptkit` command and the directory to run it in: where the promptkit server runs, so
 * that it reads the same `.env` and local key. The defaults fit this example inside a promptkit
 * checkout served with `make run`: the checkout's root and its `.venv`.
 */
function promptkitCommand(): { command: string; cwd: string } {
  // These paths are read at run time; the ignore comments keep the bundler from tracing them.
  const cwd = resolve(/*turbopackIgnore: true*/ process.env.PROMPTKIT_CLI_CWD || "../..");
  const inCheckout = join(cwd, ".venv", "bin", "promptkit");
  const configured = process.env.PROMPTKIT_CLI;
  // A path is taken from where this app runs, not from `cwd`.
  const command = configured
    ? configured.includes("/") ? resolve(/*turbopackIgnore: true*/ configured) : configured
    : existsSync(inCheckout) ? inCheckout : "promptkit";
  return { command, cwd };
}
