import { ClerkProvider } from "@clerk/nextjs";
import type { Metadata } from "next";
import { connection } from "next/server";
import { ThemeProvider } from "next-themes";
import type { ReactNode } from "react";

import { ClerkSession, LocalSession } from "@/components/session";
import { readConfig } from "@/lib/config";

import "./globals.css";

export const metadata: Metadata = { title: "promptkit chat" };

export default async function RootLayout({ children }: { children: ReactNode }) {
  await connection(); // read the configuration per request, not once at build time
  const config = readConfig();
  return (
    <html lang="en" suppressHydrationWarning>
      <body>
        <ThemeProvider attribute="class" defaultTheme="system" enableSystem>
          {config.clerkPublishableKey ? (
            <ClerkProvider publishableKey={config.clerkPublishableKey}>
              <ClerkSession config={config}>{children}</ClerkSession>
            </ClerkProvider>
          ) : (
            <LocalSession config={config}>{children}</LocalSession>
          )}
        </ThemeProvider>
      </body>
    </html>
  );
}
