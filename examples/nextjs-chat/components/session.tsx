"use client";
// Who is signed in, and how the app gets the bearer token that every promptkit call carries:
// Clerk's session token when Clerk is configured, otherwise a local token (lib/local-token.ts).
// The token also carries the active organization: promptkit then shows that organization's
// projects (docs/organizations.md). Switching it remounts the pages, so every list reloads.
import { OrganizationSwitcher, SignInButton, UserButton, useAuth } from "@clerk/nextjs";
import Link from "next/link";
import { useRouter } from "next/navigation";
import {
  createContext,
  Fragment,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  type ReactNode,
} from "react";

import type { AppConfig } from "@/lib/config";
import { createPromptkit, type GetToken, type Promptkit } from "@/lib/promptkit";
import { tokenExpiry } from "@/lib/token-expiry";

type Session = { api: Promptkit; getToken: GetToken; config: AppConfig };

const SessionContext = createContext<Session | null>(null);

export function usePromptkit(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("usePromptkit needs <ClerkSession> or <LocalSession> above it");
  return session;
}

function Provide({ config, getToken, user, tenant, children }: {
  config: AppConfig;
  getToken: GetToken;
  user: ReactNode;
  /** The active organization's id, or "personal": a new one remounts the pages. */
  tenant: string;
  children: ReactNode;
}) {
  const session = useMemo(
    () => ({ api: createPromptkit(config.promptkitUrl, getToken), getToken, config }),
    [config, getToken],
  );
  return (
    <SessionContext.Provider value={session}>
      <header className="topbar">
        <Link href="/">promptkit chat</Link>
        <span className="user">{user}</span>
      </header>
      <Fragment key={tenant}>{children}</Fragment>
    </SessionContext.Provider>
  );
}

export function ClerkSession({ config, children }: { config: AppConfig; children: ReactNode }) {
  const { isLoaded, isSignedIn, getToken, orgId } = useAuth();
  // Clerk's session tokens live for a minute and `getToken` refreshes them: ask it every time.
  const latest = useRef(getToken);
  latest.current = getToken;
  const stableGetToken = useCallback(() => latest.current(), []);
  if (!isLoaded) return <p className="muted">Loading…</p>;
  if (!isSignedIn) {
    return (
      <main className="signin">
        <h1>promptkit chat</h1>
        <SignInButton mode="modal" />
      </main>
    );
  }
  return (
    <Provide
      config={config}
      getToken={stableGetToken}
      tenant={orgId ?? "personal"}
      user={
        <>
          {/* Clerk's own switcher: the next token carries the organization picked. */}
          <OrganizationSwitcher afterSelectOrganizationUrl="/" afterSelectPersonalUrl="/" />
          <UserButton />
        </>
      }
    >
      {children}
    </Provide>
  );
}

type LocalOrganization = { id: string; role: "admin" | "member" };
const ORG_KEY = "promptkit-local-org";

export function LocalSession({ config, children }: { config: AppConfig; children: ReactNode }) {
  const router = useRouter();
  const [user, setUser] = useState<string | null>(null);
  const [organizations, setOrganizations] = useState<LocalOrganization[]>([]);
  // undefined until the choice kept in this browser is read (after hydration); "" is personal.
  const [org, setOrg] = useState<string | undefined>(undefined);
  useEffect(() => setOrg(localStorage.getItem(ORG_KEY) ?? ""), []);
  const cached = useRef<{ org: string; token: string; expiresAt: number } | null>(null);
  const getToken = useCallback(async () => {
    const now = Date.now() / 1000;
    const held = cached.current;
    if (held && held.org === org && held.expiresAt - 60 > now) return held.token;
    const query = org ? `?org=${encodeURIComponent(org)}` : "";
    const response = await fetch(`/api/local-token${query}`, { cache: "no-store" });
    const body = await response.json();
    if (!response.ok) {
      if (org && response.status === 404) {
        localStorage.removeItem(ORG_KEY); // that organization is no longer offered
        setOrg("");
      }
      throw new Error(body?.error?.message ?? "could not get a local token");
    }
    cached.current = { org: org ?? "", token: body.token, expiresAt: tokenExpiry(body.token) ?? now + 300 };
    setUser(body.user);
    setOrganizations(body.organizations ?? []);
    return body.token as string;
  }, [org]);
  if (org === undefined) return <p className="muted">Loading…</p>;
  const pick = (next: string) => {
    localStorage.setItem(ORG_KEY, next);
    setOrg(next);
    router.push("/"); // a page of the previous organization would be a 404 in the next one
  };
  const picker = (
    <select
      aria-label="Organization"
      className="org-picker"
      value={org}
      onChange={(event) => pick(event.target.value)}
    >
      <option value="">Personal</option>
      {organizations.map((o) => (
        <option key={o.id} value={o.id}>
          {o.id} ({o.role})
        </option>
      ))}
    </select>
  );
  return (
    <Provide
      config={config}
      getToken={getToken}
      tenant={org || "personal"}
      user={user ? <>{picker} {`${user} (local token)`}</> : null}
    >
      {children}
    </Provide>
  );
}
