// Search in the sidebar, against promptkit's GET /search (run.sh runs this file only where that
// route exists): Ctrl+K focuses the box, results come as you type with the match marked, and
// Enter opens the conversation.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { newChat, newProject, openBrowser, sendAndWait } from "./browser.mjs";

let browser;
before(async () => {
  browser = await openBrowser();
});
after(async () => {
  await browser?.close();
});

test("search as you type, the match marked, Enter opens it", { timeout: 90_000 }, async () => {
  const { page } = browser;
  const word = `zebra${Date.now()}`;
  await newProject(page);
  await newChat(page);
  await sendAndWait(page, `a message about ${word}`);
  const target = page.url();
  await newChat(page);

  await page.keyboard.press("Control+k");
  const box = page.getByRole("searchbox", { name: "Search" });
  assert.ok(await box.evaluate((element) => element === document.activeElement));
  await box.pressSequentially(word.slice(0, 9));
  const results = page.getByRole("list", { name: "Search results" });
  await results.locator("mark").first().waitFor();
  assert.match(await results.locator("mark").first().textContent(), /zebra/i);
  await box.press("Enter");
  await page.waitForURL(target);
  assert.deepEqual(browser.errors, []);
});
