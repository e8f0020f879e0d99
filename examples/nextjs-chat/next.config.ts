import type { NextConfig } from "next";

// No rewrites to promptkit on purpose: the browser calls promptkit directly (CORS), so nothing
// in Next.js can buffer the chat stream.
const nextConfig: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
};

export default nextConfig;
