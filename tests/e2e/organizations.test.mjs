// Offline organizations: the picker mints a token for the organization picked (promptkit token
// --org), and the project list follows it: personal projects, then an organization's, then back.
import assert from "node:assert/strict";
import { test } from "node:test";

import { APP_URL, newChat, openBrowser, sendAndWait } from "./browser.mjs";

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

/** Picks `organization` ("" for none), makes a project there and opens a new chat in it. */
async function newChatIn(page, organization, name) {
  await page.goto(APP_URL);
  await page.getByLabel("Organization").waitFor();
  await pick(page, organization);
  await createProject(page, name);
  await page.getByRole("link", { name }).click();
  await newChat(page);
}

// run.sh gives promptkit a budget per user and per organization (PROMPTKIT_TOKEN_BUDGET,
// PROMPTKIT_ORG_TOKEN_BUDGET): beside the composer, the user's meter, and the organization's
// while one is active; both go down as replies are counted.
test("the token meters: mine, and the organization's while one is active", { timeout: 90_000 }, async () => {
  const browser = await openBrowser();
  const { page } = browser;
  const meter = (testId) => page.getByTestId(testId);
  const tokensLeft = async (testId) =>
    Number((await meter(testId).innerText()).match(/([\d,]+) of/)[1].replaceAll(",", ""));
  try {
    await newChatIn(page, "org_local_admin", `Metered ${Date.now()}`);
    await meter("org-usage").waitFor();
    const before = await tokensLeft("org-usage");
    await sendAndWait(page, "Count me");
    const deadline = Date.now() + 10_000; // the meters are read again after the reply
    while ((await tokensLeft("org-usage")) >= before) {
      assert.ok(Date.now() < deadline, "the organization's meter did not go down");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.match((await meter("org-usage").innerText()).trim(), /^organization: [\d,]+ of [\d,]+ tokens left/);
    assert.ok((await tokensLeft("usage")) > 0);

    // A personal chat counts against my budget alone: no organization meter.
    await newChatIn(page, "", `Mine ${Date.now()}`);
    await meter("usage").waitFor();
    assert.equal(await meter("org-usage").count(), 0);
    assert.deepEqual(browser.errors, []);
  } finally {
    await browser.close();
  }
});
