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

// run.sh gives promptkit a budget per user and per organization (PROMPTKIT_TOKEN_BUDGET,
// PROMPTKIT_ORG_TOKEN_BUDGET): beside the composer, the user's meter, and the organization's
// while one is active; both go down as replies are counted.
test("the token meters: mine, and the organization's while one is active", { timeout: 90_000 }, async () => {
  const browser = await openBrowser();
  const { page } = browser;
  const tokensLeft = async (testId) =>
    Number((await page.getByTestId(testId).innerText()).match(/([\d,]+) of/)[1].replaceAll(",", ""));
  try {
    await page.goto(APP_URL);
    await page.getByLabel("Organization").waitFor();
    await pick(page, "org_local_admin");
    const team = `Metered ${Date.now()}`;
    await createProject(page, team);
    await page.getByRole("link", { name: team }).click();
    await newChat(page);
    await page.getByTestId("org-usage").waitFor();
    const before = await tokensLeft("org-usage");
    await sendAndWait(page, "Count me");
    await page.waitForFunction(
      (left) => Number(document.querySelector('[data-testid="org-usage"]').innerText.match(/([\d,]+) of/)[1].replaceAll(",", "")) < left,
      before,
      { timeout: 10_000 },
    );
    assert.match((await page.getByTestId("org-usage").innerText()).trim(), /^organization: [\d,]+ of [\d,]+ tokens left/);
    assert.ok((await tokensLeft("usage")) > 0);

    // A personal chat counts against my budget alone: no organization meter.
    await page.goto(APP_URL);
    await pick(page, "");
    const mine = `Mine ${Date.now()}`;
    await createProject(page, mine);
    await page.getByRole("link", { name: mine }).click();
    await newChat(page);
    await page.getByTestId("usage").waitFor();
    assert.equal(await page.getByTestId("org-usage").count(), 0);
    assert.deepEqual(browser.errors, []);
  } finally {
    await browser.close();
  }
});
