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

// One token per organization (and one personal, under ""), each renewed before it expires.
const cached = new Map<string, { token: string; expiresAt: number }>();

/** An organization the local user can switch to offline, with their role in it. */
export type LocalOrganization = { id: string; role: "admin" | "member" };

export function localUser(): string {
  return process.env.PROMPTKIT_LOCAL_USER || "local-user";
}

/**
 * The organizations of the offline picker: PROMPTKIT_LOCAL_ORGS, `id:role` pairs separated by
 * commas (default `org_local_admin:admin,org_local_member:member`, one of each role to try).
 * Only these can be asked for: the browser picks one, it never names a role.
 */
export function localOrganizations(): LocalOrganization[] {
  const raw = process.env.PROMPTKIT_LOCAL_ORGS ?? "org_local_admin:admin,org_local_member:member";
  return raw
    .split(",")
    .map((entry) => entry.trim().split(":"))
    .filter(([id]) => id && /^[A-Za-z0-9_-]{1,64}$/.test(id))
    .map(([id, role]) => ({ id, role: role === "admin" ? "admin" : "member" }));
}

/** A token for the local user, in `organization` (or personal without), renewed a few minutes
 * before it expires. */
export async function localToken(organization?: LocalOrganization): Promise<string> {
  const now = Date.now() / 1000;
  const key = organization?.id ?? "";
  const held = cached.get(key);
  if (held && held.expiresAt - RENEW_BEFORE_EXPIRY_SECONDS > now) return held.token;
  const { command, cwd } = promptkitCommand();
  const args = ["token", localUser()];
  if (organization) args.push("--org", organization.id, "--role", organization.role);
  const { stdout } = await run(command, args, { cwd, timeout: 30_000 });
  const token = stdout.trim();
  cached.set(key, { token, expiresAt: tokenExpiry(token) ?? now + 600 });
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
