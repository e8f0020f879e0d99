// Offline organizations: the picker mints a token for the organization picked (promptkit token
// --org), and the project list follows it: personal projects, then an organization's, then back.
import assert from "node:assert/strict";
import { test } from "node:test";

import { APP_URL, openBrowser } from "./browser.mjs";

async function createProject(page, name) {
  await page.getByLabel("New project name").fill(name);
  await page.getByRole("button", { name: "Create project" }).click();
  await page.getByRole("link", { name }).waitFor();
}

async function pick(page, organization) {
  await page.getByLabel("Organization").selectOption(organization);
  await page.getByRole("heading", { name: "Projects" }).waitFor();
}

test("switching the organization switches the project list", { timeout: 90_000 }, async () => {
  const browser = await openBrowser();
  const { page } = browser;
  const stamp = Date.now();
  const personal = `Personal ${stamp}`;
  const team = `Team ${stamp}`;
  try {
    await page.goto(APP_URL);
    await page.getByRole("heading", { name: "Projects" }).waitFor();
    await page.getByLabel("Organization").waitFor();
    await createProject(page, personal);

    await pick(page, "org_local_admin");
    await createProject(page, team);
    assert.equal(await page.getByRole("link", { name: personal }).count(), 0, "personal ones are not listed");
    await browser.shot("organization-admin");

    await pick(page, "org_local_member");
    await page.getByLabel("New project name").waitFor();
    assert.equal(await page.getByRole("link", { name: team }).count(), 0, "another organization's");
    assert.equal(await page.getByRole("link", { name: personal }).count(), 0);

    // The choice is kept in this browser: a reload stays in the organization.
    await pick(page, "org_local_admin");
    await page.reload();
    await page.getByRole("link", { name: team }).waitFor();

    await pick(page, "");
    await page.getByRole("link", { name: personal }).waitFor();
    assert.equal(await page.getByRole("link", { name: team }).count(), 0, "the organization's are gone");
    assert.deepEqual(browser.errors, []);
  } finally {
    await browser.close();
  }
});
