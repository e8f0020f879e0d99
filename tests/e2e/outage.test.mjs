// promptkit taken down while a person sends: a clear error with Retry, the typed text kept,
// and once promptkit is back, Retry sends it and a reload shows the history.
//   PROMPTKIT_START     a script that starts promptkit again on the same port (run.sh writes it)
//   PROMPTKIT_PID_FILE  where that script keeps promptkit's process id
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";

import { newChat, newProject, openBrowser, sendAndWait } from "./browser.mjs";

const START = process.env.PROMPTKIT_START;
const PID_FILE = process.env.PROMPTKIT_PID_FILE;
let browser;

before(async () => {
  browser = await openBrowser();
});

after(async () => {
  await browser?.close();
});

async function promptkitUp() {
  spawn("bash", [START], { detached: true, stdio: "ignore" }).unref();
  for (let i = 0; i < 60; i++) {
    if (await fetch(`${process.env.PROMPTKIT_URL}/health`).then((r) => r.ok, () => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error("promptkit did not come back");
}

test("promptkit down: the message is kept with a Retry; back up, it sends and reloads", { timeout: 120_000 }, async () => {
  assert.ok(START && PID_FILE, "run.sh sets PROMPTKIT_START and PROMPTKIT_PID_FILE");
  const { page } = browser;
  await newProject(page);
  await newChat(page);
  await sendAndWait(page, "before the outage");

  process.kill(Number(readFileSync(PID_FILE, "utf8")), "SIGTERM");
  for (let i = 0; i < 40; i++) {
    if (!(await fetch(`${process.env.PROMPTKIT_URL}/health`).then(() => true, () => false))) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const text = "sent while promptkit is down";
  await page.getByLabel("Message").fill(text);
  await page.getByLabel("Message").press("Enter");
  const alert = page.getByRole("alert").filter({ hasText: "Can't reach the promptkit server at" });
  await alert.waitFor();
  assert.equal(await page.getByLabel("Message").inputValue(), text, "the typed text stays in the composer");
  await browser.shot("desktop-outage");

  await promptkitUp();
  await alert.getByRole("button", { name: "Retry" }).click();
  await page.locator('[data-role="assistant"]').last().getByText(`Your last message was: ${text}`).waitFor();
  await page.locator('section[aria-label="Chat"][data-status="ready"]').waitFor();
  assert.equal(await alert.count(), 0, "the error is gone");

  // Sent exactly once: after a reload promptkit holds two exchanges.
  await page.reload();
  await page.getByTestId("message").nth(3).waitFor();
  assert.equal(await page.getByTestId("message").count(), 4);
  assert.equal((await page.getByTestId("message").nth(2).locator(".text").textContent()).trim(), text);
});
