// GET /api/local-token[?org=ID]: the offline sign-in (see lib/local-token.ts), personal or in one
// of the offline organizations (PROMPTKIT_LOCAL_ORGS). It answers 404 once Clerk is configured,
// so a deployment that signs in through Clerk has no such door.
import { clerkConfigured } from "@/lib/config";
import { localOrganizations, localToken, localUser } from "@/lib/local-token";

export async function GET(request: Request): Promise<Response> {
  const noStore = { "Cache-Control": "no-store" };
  if (clerkConfigured()) {
    return Response.json({ error: { code: "not_found", message: "not found" } }, { status: 404 });
  }
  const organizations = localOrganizations();
  const asked = new URL(request.url).searchParams.get("org");
  const organization = asked ? organizations.find((org) => org.id === asked) : undefined;
  if (asked && !organization) {
    return Response.json(
      { error: { code: "not_found", message: "no such offline organization" } },
      { status: 404, headers: noStore },
    );
  }
  try {
    const token = await localToken(organization);
    return Response.json(
      { token, user: localUser(), organization: organization ?? null, organizations },
      { headers: noStore },
    );
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
