// What the app needs to know at run time, read on the server (never baked into the bundle), so
// one build runs against any promptkit.

export type AppConfig = {
  /** Where the browser reaches promptkit; promptkit must list this app in PROMPTKIT_CORS_ORIGINS. */
  promptkitUrl: string;
  /** Set when the app signs in through Clerk; otherwise it uses promptkit's local tokens. */
  clerkPublishableKey: string | null;
  /** The model field's first value; empty asks for promptkit's default (PROMPTKIT_MODEL). */
  model: string;
  /** PROMPTKIT_RESUMABLE=on, as on the promptkit server: a reload re-attaches to a reply that
   * still streams (`GET /chat/{id}/stream`). Set it to the server's value: the route answers 204
   * either way when nothing streams, so the app cannot tell a server with resume off from one
   * with nothing in flight. */
  resumable: boolean;
};

export function clerkConfigured(): boolean {
  return Boolean(process.env.NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY && process.env.CLERK_SECRET_KEY);
}

export function readConfig(): AppConfig {
  return {
    promptkitUrl: (process.env.PROMPTKIT_URL || "http://127.0.0.1:8000").replace(/\/+$/, ""),
    clerkPublishableKey: clerkConfigured()
      ? (process.env.NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY ?? null)
      : null,
    model: process.env.PROMPTKIT_CHAT_MODEL || "",
    resumable: process.env.PROMPTKIT_RESUMABLE === "on",
  };
}
