// Tool calls in a reply (tools issue), against a promptkit that has tools (run.sh runs this file
// where `GET /tools` does not answer 404). The echo provider calls a tool when the message is
// `/tool NAME {json}` and the project enabled NAME; the project's tools are chosen in the app's
// project settings (its Tools section lists GET /tools, one checkbox each).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { APP_URL, axeViolations, newChat, newProject, openBrowser } from "./browser.mjs";

let browser;
let page;

before(async () => {
  browser = await openBrowser();
  page = browser.page;
});

after(async () => {
  await browser?.shot("desktop-tools");
  await browser?.close();
});

/** Calls promptkit as the app's offline user. */
async function promptkit(method, path, body) {
  const { token } = await (await fetch(`${APP_URL}/api/local-token`)).json();
  const response = await fetch(`${process.env.PROMPTKIT_URL}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(response.ok, `${method} ${path} answered ${response.status}`);
  return response.json();
}

/** Polls `check` until it holds (10 s at most). */
async function waitFor(check) {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, "timed out");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test("a tool enabled in the project settings shows in the reply with its input and output, also after a reload", { timeout: 90_000 }, async () => {
  await newProject(page);
  const projectId = new URL(page.url()).pathname.split("/").pop();
  const tools = page.getByRole("region", { name: "Tools" });
  const calculate = tools.getByRole("checkbox", { name: /^calculate\b/ });
  await calculate.waitFor();
  assert.equal(await calculate.isChecked(), false);
  await calculate.check();
  // Saved at once (PATCH /projects/{id}), and still checked once the page is read again.
  await waitFor(async () => (await promptkit("GET", `/projects/${projectId}`)).tools?.includes("calculate"));
  await page.reload();
  await calculate.waitFor();
  assert.equal(await calculate.isChecked(), true);
  assert.deepEqual(await axeViolations(page), []);

  await newChat(page);
  await page.getByLabel("Message").fill('/tool calculate {"expression": "6*7"}');
  await page.getByLabel("Message").press("Enter");
  const reply = page.locator('[data-role="assistant"]').last();
  const call = reply.locator('[data-testid="tool-call"][data-tool="calculate"][data-state="output-available"]');
  await call.waitFor();
  await page.locator('section[aria-label="Chat"][data-status="ready"]').waitFor();

  async function check() {
    // Collapsed: the name and the state; opened: the input and the output.
    assert.match(await call.locator("summary").textContent(), /Tool calculate done/);
    assert.equal(await call.getByTestId("tool-output").isVisible(), false);
    await call.locator("summary").click();
    assert.match(await call.textContent(), /6\*7/);
    assert.match(await call.getByTestId("tool-output").textContent(), /42/);
    // The step after the call quotes the result, as text after the block.
    assert.match(await reply.locator(".text").textContent(), /The tool returned: .*42/);
  }
  await check();
  assert.deepEqual(await axeViolations(page), []);

  // The stored Message's parts render the same.
  await page.reload();
  await call.waitFor();
  await check();
  assert.deepEqual(browser.errors, []);
});
