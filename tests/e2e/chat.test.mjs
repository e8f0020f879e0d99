// The main flow at desktop size: project and prompt, a new chat, a streamed reply (and how soon
// its first text shows), the history after a reload, then the message actions and the sidebar.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { newChat, newProject, openBrowser, sendAndWait, waitForCount } from "./browser.mjs";

let browser;
let page;

before(async () => {
  browser = await openBrowser();
  page = browser.page;
});

after(async () => {
  // The last screen, passed or failed: the first thing to look at in CI.
  await browser?.shot("desktop");
  await browser?.close();
});

test("project, prompt, new chat, streamed reply, history after reload", { timeout: 120_000 }, async (t) => {
  const stamp = Date.now();
  await newProject(page, `E2E project ${stamp}`);

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

  // An upload goes through promptkit's store_file plugin; offline that is the local store on
  // promptkit's disk, and the file is listed with its size.
  const files = page.getByRole("region", { name: "Files" });
  await files.getByLabel("File").setInputFiles({
    name: "notes.txt",
    mimeType: "text/plain",
    buffer: Buffer.from("some notes"),
  });
  await files.getByRole("button", { name: "Upload" }).click();
  await files.getByRole("listitem").filter({ hasText: "notes.txt" }).filter({ hasText: "10 bytes" }).waitFor();
  await browser.shot("desktop-project");

  await newChat(page);
  // An empty chat offers suggested prompts.
  await page.getByRole("button", { name: /markdown table/ }).waitFor();

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
  // The picker lists GET /models by display name, promptkit's default model preselected.
  const picker = page.getByLabel("Model");
  await picker.locator("option", { hasText: "Echo (offline, not a model)" }).waitFor({ state: "attached" });
  assert.equal(await picker.inputValue(), "echo");
  const box = page.getByLabel("Message");
  // Shift+Enter adds a line and sends nothing; Enter sends.
  await box.fill("first line");
  await box.press("Shift+Enter");
  assert.equal(await box.inputValue(), "first line\n");
  await box.fill(message);
  const sentAt = await page.evaluate(() => performance.now());
  await box.press("Enter");

  // promptkit names the conversation beside the reply (the echo provider: its first words), and
  // the title shows in the sidebar and the heading while the reply still streams, no reload.
  const sidebar = page.getByRole("navigation", { name: "Conversations" });
  await sidebar.getByRole("link", { name: message }).waitFor();
  const statusWhenTitled = await page.locator('section[aria-label="Chat"]').getAttribute("data-status");
  assert.equal(statusWhenTitled, "streaming", "the title arrived with the stream, before it ended");
  await page.getByRole("heading", { name: message }).waitFor();

  const reply = page.locator('[data-role="assistant"]').last();
  await page
    .locator('section[aria-label="Chat"][data-status="streaming"] [data-role="assistant"] .text')
    .filter({ hasText: "offline" })
    .waitFor({ timeout: 5_000 })
    .then(() => browser.shot("desktop-streaming"))
    .catch(() => {});
  await reply.getByText(`Your last message was: ${message}`).waitFor();
  await page.locator('section[aria-label="Chat"][data-status="ready"]').waitFor();
  const replyText = await reply.locator(".text").textContent();
  // Cleared after sending, and still focused.
  assert.equal(await box.inputValue(), "");
  assert.ok(await box.evaluate((element) => element === document.activeElement));

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
  assert.match(replyText, /system prompt 'Answer like a pirate\.'/);
  assert.match(replyText, /for model 'echo'/);

  // After a reload, the history comes back from promptkit.
  await page.reload();
  const history = page.getByTestId("message");
  await history.nth(1).waitFor();
  assert.equal(await history.count(), 2);
  assert.equal(await history.nth(0).getAttribute("data-role"), "user");
  assert.equal((await history.nth(0).locator(".text").textContent()).trim(), message);
  assert.equal(await history.nth(1).locator(".text").textContent(), replyText);
  assert.deepEqual(browser.errors, []);
});

test("copy puts the reply on the clipboard; regenerate answers again", { timeout: 60_000 }, async () => {
  const reply = page.locator('[data-role="assistant"]').last();
  const text = await reply.locator(".text").textContent();
  await reply.getByRole("button", { name: "Copy", exact: true }).click();
  await reply.getByRole("button", { name: "Copy", exact: true }).filter({ hasText: "Copied" }).waitFor();
  const clipboard = await page.evaluate(() => navigator.clipboard.readText());
  assert.match(clipboard, /Your last message was: Hello from the browser/);
  assert.ok(text.includes("Your last message was"));

  const before = await page.getByTestId("message").count();
  await reply.getByRole("button", { name: "Regenerate" }).click();
  await page.locator('section[aria-label="Chat"][data-status="ready"]').waitFor();
  await page.locator('[data-role="assistant"]').last().getByText("Your last message was").waitFor();
  // A new version, not a new message: still one user message and one reply, now version 2/2
  // (the old one stays reachable: branches.test.mjs), also after a reload.
  assert.equal(await page.getByTestId("message").count(), before);
  await page.locator('[data-role="assistant"]').last().getByTestId("version").filter({ hasText: "2/2" }).waitFor();
  await page.reload();
  await page.getByTestId("message").nth(1).waitFor();
  assert.equal(await page.getByTestId("message").count(), before);
});

test("hostile HTML in a message never runs; markdown and code render", { timeout: 60_000 }, async () => {
  await newChat(page);
  const hostile = [
    "**bold** and a [link](javascript:window.__pwned=1)",
    "",
    '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=1</script>',
    "",
    "```python",
    "print('hi')",
    "```",
    "",
    `${"a".repeat(300)}`,
  ].join("\n");
  const reply = await sendAndWait(page, hostile);
  await reply.locator("strong", { hasText: "bold" }).waitFor();
  await reply.locator("pre code", { hasText: "print('hi')" }).waitFor();
  // Highlighted by shiki once its grammar has loaded; Copy code copies the code alone.
  await reply.locator('.code-block[data-language="python"][data-highlighted="true"] .token').first().waitFor();
  await reply.getByRole("button", { name: "Copy code" }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), "print('hi')");
  assert.equal(await reply.locator("script, img, [onerror]").count(), 0);
  const hrefs = await reply.locator("a").evaluateAll((links) => links.map((link) => link.getAttribute("href") ?? ""));
  assert.ok(hrefs.every((href) => !href.startsWith("javascript:")), `links: ${hrefs}`);
  await reply.locator("a", { hasText: "link" }).click().catch(() => {});
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  // The 300-letter word wraps inside the page.
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth), 0);
});

test("rename inline and delete after a confirmation, from the sidebar", { timeout: 60_000 }, async () => {
  const sidebar = page.getByRole("navigation", { name: "Conversations" });
  await sidebar.getByRole("region", { name: "Today" }).waitFor();
  const current = sidebar.locator('[aria-current="page"]');
  await current.getByRole("button", { name: /^Options for/ }).click();
  await current.getByRole("button", { name: "Rename", exact: true }).click();
  await current.getByLabel("Title").fill("Renamed chat");
  await current.getByLabel("Title").press("Enter");
  await sidebar.getByRole("link", { name: "Renamed chat" }).waitFor();
  await page.reload();
  await sidebar.getByRole("link", { name: "Renamed chat" }).waitFor();

  // Esc cancels a rename.
  await current.getByRole("button", { name: /^Options for/ }).click();
  await current.getByRole("button", { name: "Rename", exact: true }).click();
  await current.getByLabel("Title").fill("Not kept");
  await current.getByLabel("Title").press("Escape");
  await sidebar.getByRole("link", { name: "Renamed chat" }).waitFor();

  const count = await sidebar.getByTestId("conversation").count();
  await current.getByRole("button", { name: /^Options for/ }).click();
  await current.getByRole("button", { name: "Delete", exact: true }).click();
  await current.getByRole("button", { name: "Confirm delete" }).click();
  await page.waitForURL(/\/projects\//);
  await sidebar.getByRole("link", { name: "Renamed chat" }).waitFor({ state: "detached" });
  await waitForCount(sidebar.getByTestId("conversation"), count - 1);
  assert.equal(await sidebar.getByRole("link", { name: "Renamed chat" }).count(), 0);
  assert.deepEqual(browser.errors, []);
});
