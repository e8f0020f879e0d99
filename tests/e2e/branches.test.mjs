// Edits and regenerations are versions: nothing a user wrote is lost. An edit opens an inline
// editor (Enter or Save sends, Esc cancels); a message with versions shows "‹ 2/2 ›", whose
// buttons switch the shown branch, which stays shown after a reload.
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

const ready = (page) => page.locator('section[aria-label="Chat"][data-status="ready"]').waitFor();

test("edit, switch back to the old version, regenerate, reload", { timeout: 120_000 }, async () => {
  const { page } = browser;
  await newProject(page);
  await newChat(page);
  await sendAndWait(page, "First question");
  const question = page.locator('[data-role="user"]').first();
  const reply = page.locator('[data-role="assistant"]').first();
  await reply.getByText("Your last message was: First question").waitFor();

  // Esc cancels an edit: nothing is sent.
  await question.getByRole("button", { name: "Edit" }).click();
  await question.getByLabel("Edited message").press("Escape");
  await question.getByRole("form", { name: "Edit message" }).waitFor({ state: "detached" });
  assert.equal(await question.getByTestId("versions").count(), 0);

  // Enter sends the edit, answered from its own branch: the new version is 2/2.
  await question.getByRole("button", { name: "Edit" }).click();
  await question.getByLabel("Edited message").fill("Edited question");
  await question.getByLabel("Edited message").press("Enter");
  await reply.getByText("Your last message was: Edited question").waitFor({ timeout: 20_000 });
  await ready(page);
  await question.getByTestId("version").filter({ hasText: "2/2" }).waitFor();
  assert.equal(await page.getByTestId("message").count(), 2);
  await browser.shot("desktop-branch-edited");

  // Back to 1/2: the old question and its old reply.
  await question.getByRole("button", { name: "Previous version" }).click();
  await question.getByTestId("version").filter({ hasText: "1/2" }).waitFor();
  await question.getByText("First question").waitFor();
  await reply.getByText("Your last message was: First question").waitFor();

  // Regenerate keeps the old reply reachable: the reply is now 2/2, and 1/2 is still there.
  await reply.getByRole("button", { name: "Regenerate" }).click();
  await ready(page);
  await reply.getByTestId("version").filter({ hasText: "2/2" }).waitFor({ timeout: 20_000 });
  await reply.getByRole("button", { name: "Previous version" }).click();
  await reply.getByTestId("version").filter({ hasText: "1/2" }).waitFor();

  // The shown branch is the conversation's current one: a reload shows it again.
  await page.reload();
  await page.getByTestId("message").nth(1).waitFor();
  const reloaded = page.locator('[data-role="user"]').first();
  await reloaded.getByText("First question").waitFor();
  await reloaded.getByTestId("version").filter({ hasText: "1/2" }).waitFor();
  await page.locator('[data-role="assistant"]').first().getByTestId("version").filter({ hasText: "1/2" }).waitFor();
  // And Next version on the question brings the edited branch back.
  await reloaded.getByRole("button", { name: "Next version" }).click();
  await page.locator('[data-role="assistant"]').first().getByText("Your last message was: Edited question").waitFor();
  assert.deepEqual(browser.errors, []);
});
