/** The `exp` claim of a JWT, read without verifying it: only to know when to fetch a new one. */
export function tokenExpiry(token: string): number | null {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const payload = JSON.parse(atob(part));
    return typeof payload.exp === "number" ? payload.exp : null;
  } catch {
    return null;
  }
}
