// Clerk's request handling runs only when Clerk is configured; offline, every request passes.
import { clerkMiddleware } from "@clerk/nextjs/server";
import { NextResponse } from "next/server";

const clerkConfigured = Boolean(
  process.env.NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY && process.env.CLERK_SECRET_KEY,
);

export default clerkConfigured ? clerkMiddleware() : () => NextResponse.next();

export const config = {
  // Pages and API routes; not Next.js internals or static files.
  matcher: ["/((?!_next|.*\\.(?:css|js|map|png|jpg|svg|ico|woff2?)$).*)"],
};
