// A prompt's history: every content edit is a version, two versions compared line by line, an
// old one restored (as a new version), and each reply naming the prompt version that answered.
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

test("versions, a diff between two, restore, and the version on each reply", { timeout: 120_000 }, async () => {
  const { page } = browser;
  await newProject(page);
  const prompts = page.getByRole("region", { name: "Prompts" });
  await prompts.getByLabel("Prompt name").fill("Support");
  await prompts.getByLabel("Prompt content").fill("Greet the customer.\nBe brief.");
  await prompts.getByRole("button", { name: "Add prompt" }).click();
  const prompt = prompts.getByTestId("prompt").filter({ hasText: "Support" });
  await prompt.waitFor();
  assert.equal(await prompt.getAttribute("data-version"), "1");

  // Two edits of the content: versions 2 and 3.
  const edits = ["Greet the customer by name.\nBe brief.", "Greet the customer by name.\nBe brief.\nSign as Ada."];
  for (const [index, content] of edits.entries()) {
    await prompt.getByRole("button", { name: "Edit" }).click();
    const form = prompts.getByRole("form", { name: "Edit Support" });
    await form.getByLabel("Content").fill(content);
    await form.getByRole("button", { name: "Save" }).click();
    await form.waitFor({ state: "detached" });
    await prompts.locator(`[data-testid="prompt"][data-version="${index + 2}"]`).waitFor();
  }

  await prompt.getByRole("button", { name: "History" }).click();
  const history = prompt.getByRole("region", { name: "History of Support" });
  const entries = history.getByTestId("prompt-version-entry");
  await entries.nth(2).waitFor();
  assert.deepEqual(await entries.evaluateAll((items) => items.map((item) => item.dataset.version)), ["3", "2", "1"]);

  // By default the newest change: v2 against v3, one line added.
  const diff = history.getByTestId("prompt-diff");
  await diff.locator("ins", { hasText: "Sign as Ada." }).waitFor();
  assert.equal(await diff.locator("del").count(), 0);

  // v1 against v3: the first line replaced, the last one added.
  await history.getByLabel("Compare version").selectOption("1");
  await diff.locator("del", { hasText: "Greet the customer." }).waitFor();
  assert.deepEqual(await diff.locator("ins").allTextContents(), [
    "+ Greet the customer by name.\n",
    "+ Sign as Ada.\n",
  ]);
  assert.match(await diff.locator(".same").first().textContent(), /Be brief\./);
  await browser.shot("desktop-prompt-history");

  // Restoring v1 makes a fourth version with v1's text; nothing before it changes.
  await history.getByRole("button", { name: "Restore version 1" }).click();
  await prompts.locator('[data-testid="prompt"][data-version="4"]').waitFor();
  await entries.nth(3).waitFor();
  assert.deepEqual(await entries.evaluateAll((items) => items.map((item) => item.dataset.version)), ["4", "3", "2", "1"]);
  assert.equal((await prompt.locator(".content").textContent()).trim(), "Greet the customer.\nBe brief.");

  // A reply says which version answered it, while streaming ends and after a reload.
  await newChat(page);
  const reply = await sendAndWait(page, "Hello?");
  await reply.getByText("Greet the customer.").waitFor();
  await reply.getByTestId("prompt-version").filter({ hasText: "prompt v4" }).waitFor();
  await page.reload();
  await page.locator('[data-role="assistant"]').last().getByTestId("prompt-version").filter({ hasText: "prompt v4" }).waitFor();
  assert.deepEqual(browser.errors, []);
});
