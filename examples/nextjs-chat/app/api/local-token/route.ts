// GET /api/local-token: the offline sign-in (see lib/local-token.ts). It answers 404 once Clerk
// is configured, so a deployment that signs in through Clerk has no such door.
import { clerkConfigured } from "@/lib/config";
import { localToken, localUser } from "@/lib/local-token";

export async function GET(): Promise<Response> {
  const noStore = { "Cache-Control": "no-store" };
  if (clerkConfigured()) {
    return Response.json({ error: { code: "not_found", message: "not found" } }, { status: 404 });
  }
  try {
    return Response.json({ token: await localToken(), user: localUser() }, { headers: noStore });
  } catch (error) {
    // The command's output may hold anything; the log says what to fix, the browser only that
    // it failed.
    console.error("promptkit token failed:", (error as Error).message.split("\n")[0]);
    return Response.json(
      {
        error: {
          code: "local_token_unavailable",
          message: "could not get a local token: is PROMPTKIT_CLI set to the promptkit command?",
        },
      },
      { status: 503, headers: noStore },
    );
  }
}
