// End to end in a real browser: the Next.js example against a running promptkit, driven in
// Debian's headless Chromium through playwright-core (which never downloads a browser).
// run.sh starts both servers; this file only drives the page.
//   APP_URL      the Next.js app (required)
//   CHROMIUM     the browser executable (default /usr/bin/chromium)
//   SCREENSHOT   where to save the final screenshot (default ./artifacts/chat.png); one taken
//                while the reply streams, and one of the project page, go beside it
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";

import { chromium } from "playwright-core";

const APP_URL = process.env.APP_URL;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SCREENSHOT = process.env.SCREENSHOT || join(import.meta.dirname, "artifacts", "chat.png");
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

let profile;
let context;
let page;
const pageErrors = [];

before(async () => {
  assert.ok(APP_URL, "set APP_URL to the running Next.js app");
  mkdirSync(dirname(SCREENSHOT), { recursive: true });
  profile = mkdtempSync(join(tmpdir(), "promptkit-e2e-profile-")); // a new, empty profile
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: LAUNCH_ARGS,
    viewport: { width: 1200, height: 900 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20_000);
  page.on("pageerror", (error) => pageErrors.push(error.message));
});

after(async () => {
  // The screenshot shows the last screen, passed or failed: the first thing to look at in CI.
  await page?.screenshot({ path: SCREENSHOT, fullPage: true }).catch(() => {});
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test("project, prompt, conversation, streamed reply, history after reload", { timeout: 120_000 }, async (t) => {
  const stamp = Date.now();
  await page.goto(APP_URL);
  await page.getByRole("heading", { name: "Projects" }).waitFor();

  // A project.
  const projectName = `E2E project ${stamp}`;
  await page.getByLabel("New project name").fill(projectName);
  await page.getByRole("button", { name: "Create project" }).click();
  await page.getByRole("link", { name: projectName }).click();
  await page.getByRole("heading", { name: projectName }).waitFor();

  // A prompt: written, edited, then activated.
  const prompts = page.getByRole("region", { name: "Prompts" });
  await prompts.getByLabel("Prompt name").fill("Pirate");
  await prompts.getByLabel("Prompt content").fill("Answer like a sailor.");
  await prompts.getByLabel("Make it the active prompt").uncheck();
  await prompts.getByRole("button", { name: "Add prompt" }).click();
  const prompt = prompts.getByTestId("prompt").filter({ hasText: "Pirate" });
  await prompt.waitFor();
  assert.equal(await prompt.getAttribute("data-active"), "false");
  await prompt.getByRole("button", { name: "Edit" }).click();
  const edit = prompts.getByRole("form", { name: "Edit Pirate" });
  await edit.getByLabel("Content").fill("Answer like a pirate.");
  await edit.getByRole("button", { name: "Save" }).click();
  await prompts.getByText("Answer like a pirate.").waitFor();
  await prompt.getByRole("button", { name: "Activate" }).click();
  await prompt.getByText("active", { exact: true }).waitFor();
  assert.equal(await prompt.getAttribute("data-active"), "true");

  // An upload goes through promptkit's store_file plugin; offline none is configured, and the
  // page shows promptkit's own error message.
  const files = page.getByRole("region", { name: "Files" });
  await files.getByLabel("File").setInputFiles({
    name: "notes.txt",
    mimeType: "text/plain",
    buffer: Buffer.from("some notes"),
  });
  await files.getByRole("button", { name: "Upload" }).click();
  await files.getByRole("alert").filter({ hasText: "no file store is configured" }).waitFor();
  await page.screenshot({ path: SCREENSHOT.replace(/\.png$/, "-project.png"), fullPage: true });

  // A conversation.
  const conversations = page.getByRole("region", { name: "Conversations" });
  await conversations.getByLabel("Conversation title").fill("First chat");
  await conversations.getByRole("button", { name: "Start conversation" }).click();
  await page.getByRole("heading", { name: "First chat" }).waitFor();
  await page.waitForURL(/\/conversations\//);

  // Record every length the reply takes on screen, as the DOM changes.
  await page.evaluate(() => {
    window.__replyLengths = [];
    new MutationObserver(() => {
      const replies = document.querySelectorAll('[data-role="assistant"] .text');
      const last = replies[replies.length - 1];
      if (last) window.__replyLengths.push([last.textContent.length, performance.now()]);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });

  const message = `Hello from the browser ${stamp}`;
  await page.getByLabel("Message").fill(message);
  await page.getByLabel("Model").fill("e2e-model");
  const sentAt = await page.evaluate(() => performance.now());
  await page.getByRole("button", { name: "Send" }).click();

  const chat = page.getByRole("region", { name: "Chat" });
  const reply = chat.locator('[data-role="assistant"]').last();
  // A picture of the reply half-way, for people; the assertions below do not depend on it.
  await page
    .locator('section[aria-label="Chat"][data-status="streaming"] [data-role="assistant"] .text')
    .filter({ hasText: "offline" })
    .waitFor({ timeout: 5_000 })
    .then(() => page.screenshot({ path: SCREENSHOT.replace(/\.png$/, "-streaming.png") }))
    .catch(() => {});
  await reply.getByText(`Your last message was: ${message}`).waitFor();
  await page.locator('section[aria-label="Chat"][data-status="ready"]').waitFor();
  const replyText = await reply.locator(".text").textContent();

  // The reply grew on screen while it streamed: many distinct partial lengths, not one jump.
  const seen = await page.evaluate(() => window.__replyLengths);
  const lengths = seen.map(([length]) => length);
  const partial = new Set(lengths.filter((length) => length > 0 && length < replyText.length));
  assert.ok(partial.size >= 5, `the reply appeared in ${partial.size} partial steps: ${lengths}`);
  const firstText = seen.find(([length]) => length > 0)[1] - sentAt;
  const complete = seen.find(([length]) => length === replyText.length)[1] - sentAt;
  t.diagnostic(
    `reply on screen in ${partial.size + 1} steps: first text after ${firstText.toFixed(0)} ms, ` +
      `all ${replyText.length} characters after ${complete.toFixed(0)} ms`,
  );
  // The active prompt reached the provider as the system message (the echo provider says so).
  assert.match(replyText, /system prompt 'Answer like a pirate\.'/);
  // The model field reached promptkit in useChat's body.
  assert.match(replyText, /for model 'e2e-model'/);

  // After a reload, the history comes back from promptkit.
  await page.reload();
  const history = page.getByTestId("message");
  await history.nth(1).waitFor();
  assert.equal(await history.count(), 2);
  assert.equal(await history.nth(0).getAttribute("data-role"), "user");
  assert.equal((await history.nth(0).locator(".text").textContent()).trim(), message);
  assert.equal(await history.nth(1).locator(".text").textContent(), replyText);
  assert.deepEqual(pageErrors, []);
});
