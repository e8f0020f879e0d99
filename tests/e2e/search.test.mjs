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

  const box = page.getByRole("searchbox", { name: "Search" });
  await box.waitFor();
  // The shortcut is listened for once the page has hydrated: press until it is heard, a few times.
  let focused = false;
  for (let attempt = 0; attempt < 20 && !focused; attempt++) {
    await page.keyboard.press("Control+k");
    focused = await box.evaluate((element) => element === document.activeElement);
    if (!focused) await page.waitForTimeout(100);
  }
  assert.ok(focused, "Ctrl+K focuses the search box");
  await box.pressSequentially(word.slice(0, 9));
  const results = page.getByRole("list", { name: "Search results" });
  await results.locator("mark").first().waitFor();
  assert.match(await results.locator("mark").first().textContent(), /zebra/i);
  await box.press("Enter");
  await page.waitForURL(target);
  assert.deepEqual(browser.errors, []);
});
