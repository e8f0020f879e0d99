// Shared by the e2e files: a fresh headless Chromium profile per file, a new project through the
// app, and an axe-core audit. run.sh starts the servers; these files only drive pages.
//   APP_URL    the Next.js app (required)
//   CHROMIUM   the browser executable (default /usr/bin/chromium)
//   ARTIFACTS  where screenshots go (default ./artifacts)
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { chromium } from "playwright-core";

export const APP_URL = process.env.APP_URL;
export const ARTIFACTS = process.env.ARTIFACTS || join(import.meta.dirname, "artifacts");
export const DESKTOP = { width: 1200, height: 900 };
export const PHONE = { width: 390, height: 844 };
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const LAUNCH_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** A browser with an empty profile; `close` removes it. Page errors are collected. */
export async function openBrowser({ viewport = DESKTOP, colorScheme = "light" } = {}) {
  assert.ok(APP_URL, "set APP_URL to the running Next.js app");
  mkdirSync(ARTIFACTS, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), "promptkit-e2e-profile-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: LAUNCH_ARGS,
    viewport,
    colorScheme,
    permissions: ["clipboard-read", "clipboard-write"],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20_000);
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  return {
    page,
    errors,
    shot: async (name) => {
      await settled(page);
      await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true }).catch(() => {});
    },
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Waits (up to 10 s) until nothing on the page says "Loading…" or shows a skeleton. */
export async function settled(page) {
  await page
    .waitForFunction(
      () => !document.body.innerText.includes("Loading…") && !document.querySelector(".skeleton"),
      null,
      { timeout: 10_000 },
    )
    .catch(() => {});
}

/** Waits until `locator` matches exactly `count` elements (a list that is being re-read). */
export async function waitForCount(locator, count, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  while ((await locator.count()) !== count) {
    if (Date.now() > deadline) assert.fail(`expected ${count} elements, found ${await locator.count()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Creates a project from the home page and opens it. */
export async function newProject(page, name = `E2E project ${Date.now()}`) {
  await page.goto(APP_URL);
  await page.getByRole("heading", { name: "Projects" }).waitFor();
  await page.getByLabel("New project name").fill(name);
  await page.getByRole("button", { name: "Create project" }).click();
  await page.getByRole("link", { name }).click();
  await page.getByRole("heading", { name }).waitFor();
  return name;
}

/** Opens the sidebar where it sits behind a button (phone), then starts a new chat and waits
 * for its page: a URL other than the one before (an untitled chat's heading reads "New chat"
 * too, so the heading alone could be the old page's). */
export async function newChat(page) {
  const before = page.url();
  const toggle = page.getByRole("button", { name: "Menu" });
  if (await toggle.isVisible()) await toggle.click();
  await page.getByRole("navigation", { name: "Conversations" }).getByRole("button", { name: "New chat", exact: true }).click();
  await page.waitForURL((url) => url.pathname.startsWith("/conversations/") && url.href !== before);
  await page.getByRole("heading", { name: "New chat" }).waitFor();
  await page.locator('section[aria-label="Chat"]').waitFor();
}

/** Sends `text` and waits for the echo provider's whole reply: a new reply, then "ready" (the
 * chat reads "ready" before the send starts too). */
export async function sendAndWait(page, text) {
  const replies = page.locator('[data-role="assistant"]');
  const before = await replies.count();
  await page.getByLabel("Message").fill(text);
  await page.getByLabel("Message").press("Enter");
  await waitForCount(replies, before + 1, 20_000);
  await page.locator('section[aria-label="Chat"][data-status="ready"]').waitFor();
  return replies.last();
}

/** axe-core's violations on the page as it is now (serious and critical ones). */
export async function axeViolations(page) {
  await page.addScriptTag({ content: AXE });
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  return result.violations
    .filter((violation) => ["serious", "critical"].includes(violation.impact))
    .map((violation) => `${violation.id}: ${violation.nodes.map((node) => node.target.join(" ")).join(", ")}`);
}

/** How far the page is wider than the window, in CSS pixels (0 when nothing overflows). */
export function horizontalOverflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}
