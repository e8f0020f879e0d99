// Attachments (files issue): a text file attached from the composer is uploaded to the
// project, sent with the message as a useChat `file` part, named by the echo provider in its
// reply, and shown on the message as a chip that opens the file, also after a reload.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { newChat, newProject, openBrowser } from "./browser.mjs";

let browser;
let page;

before(async () => {
  browser = await openBrowser();
  page = browser.page;
});

after(async () => {
  await browser?.shot("desktop-attach");
  await browser?.close();
});

test("a file attached in the composer reaches the model and shows on the message", { timeout: 90_000 }, async () => {
  await newProject(page);
  await newChat(page);

  await page.getByLabel("Attach files").setInputFiles({
    name: "notes.txt",
    mimeType: "text/plain",
    buffer: Buffer.from("some notes"),
  });
  const chip = page.getByTestId("attached-file").filter({ hasText: "notes.txt" });
  await page.locator('[data-testid="attached-file"][data-state="ready"]').waitFor();
  assert.match(await chip.textContent(), /10 B/);

  await page.getByLabel("Message").fill("What is in the file?");
  await page.getByLabel("Message").press("Enter");
  const reply = page.locator('[data-role="assistant"]').last();
  await reply.getByText("Attached: notes.txt (text/plain, 10 bytes).", { exact: false }).waitFor({ timeout: 20_000 });
  await page.locator('section[aria-label="Chat"][data-status="ready"]').waitFor();
  // The composer is empty again; the message carries the file.
  assert.equal(await page.getByTestId("attached-file").count(), 0);

  async function checkMessage() {
    const user = page.locator('[data-role="user"]').last();
    const file = user.getByTestId("message-file").getByRole("button", { name: "notes.txt" });
    await file.waitFor();
    // Opening it fetches the bytes from promptkit with the token, into a new tab.
    const [tab] = await Promise.all([page.context().waitForEvent("page"), file.click()]);
    await tab.waitForURL(/^blob:/);
    assert.equal((await tab.textContent("body")).trim(), "some notes");
    await tab.close();
  }
  await checkMessage();
  await page.reload();
  await checkMessage();
});
