"use client";
// Who is signed in, and how the app gets the bearer token that every promptkit call carries:
// Clerk's session token when Clerk is configured, otherwise a local token (lib/local-token.ts).
import { SignInButton, UserButton, useAuth } from "@clerk/nextjs";
import Link from "next/link";
import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from "react";

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

function Provide({ config, getToken, user, children }: {
  config: AppConfig;
  getToken: GetToken;
  user: ReactNode;
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
      {children}
    </SessionContext.Provider>
  );
}

export function ClerkSession({ config, children }: { config: AppConfig; children: ReactNode }) {
  const { isLoaded, isSignedIn, getToken } = useAuth();
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
    <Provide config={config} getToken={stableGetToken} user={<UserButton />}>
      {children}
    </Provide>
  );
}

export function LocalSession({ config, children }: { config: AppConfig; children: ReactNode }) {
  const [user, setUser] = useState<string | null>(null);
  const cached = useRef<{ token: string; expiresAt: number } | null>(null);
  const getToken = useCallback(async () => {
    const now = Date.now() / 1000;
    if (cached.current && cached.current.expiresAt - 60 > now) return cached.current.token;
    const response = await fetch("/api/local-token", { cache: "no-store" });
    const body = await response.json();
    if (!response.ok) throw new Error(body?.error?.message ?? "could not get a local token");
    cached.current = { token: body.token, expiresAt: tokenExpiry(body.token) ?? now + 300 };
    setUser(body.user);
    return body.token as string;
  }, []);
  return (
    <Provide config={config} getToken={getToken} user={user ? `${user} (local token)` : null}>
      {children}
    </Provide>
  );
}
