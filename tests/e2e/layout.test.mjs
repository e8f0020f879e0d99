// The same screens at phone width and in dark mode: nothing wider than the window, the sidebar
// behind a button on a phone, and no serious axe-core violation. Screenshots for people.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  APP_URL,
  DESKTOP,
  PHONE,
  axeViolations,
  horizontalOverflow,
  newChat,
  newProject,
  openBrowser,
  sendAndWait,
} from "./browser.mjs";

const SIZES = [
  ["phone", PHONE, "light"],
  ["phone-dark", PHONE, "dark"],
  ["desktop-dark", DESKTOP, "dark"],
  ["desktop-light", DESKTOP, "light"],
];

for (const [name, viewport, colorScheme] of SIZES) {
  test(`${name}: no horizontal overflow, no serious axe violation`, { timeout: 90_000 }, async () => {
    const browser = await openBrowser({ viewport, colorScheme });
    const { page } = browser;
    try {
      await page.goto(APP_URL);
      await page.getByRole("heading", { name: "Projects" }).waitFor();
      await browser.shot(`${name}-home`);
      await newProject(page);
      assert.equal(await horizontalOverflow(page), 0, "the project page fits the window");
      await browser.shot(`${name}-project`);
      assert.deepEqual(await axeViolations(page), [], "project page");
      const sidebar = page.getByRole("navigation", { name: "Conversations" });
      assert.equal(await sidebar.isVisible(), viewport !== PHONE, "on a phone the sidebar waits behind Menu");
      await newChat(page);
      // A highlighted fence too: its colours must pass the contrast audit, light and dark.
      const fence = "```python\ndef greet(name):\n    return f'hi {name}'  # a comment\n```";
      const reply = await sendAndWait(page, `A **markdown** reply with \`code\` and a longword${"x".repeat(120)}\n\n${fence}`);
      await reply.locator('.code-block[data-highlighted="true"]').waitFor();
      assert.equal(await horizontalOverflow(page), 0, "the conversation page fits the window");
      assert.deepEqual(await axeViolations(page), [], "conversation page");
      const dark = await page.evaluate(() => document.documentElement.classList.contains("dark"));
      assert.equal(dark, colorScheme === "dark");
      await browser.shot(name);
      assert.deepEqual(browser.errors, []);
    } finally {
      await browser.close();
    }
  });
}
