// Drives headless Chromium (Debian's, through playwright-core) over the Dagster UI the
// demo left behind, and checks what a data engineer opening it would look for.
// Arguments: base URL, run id of the refresh run, a partition key, that partition's PDS
// rev (a value only its own metadata shows), screenshot folder.
// Prints one JSON line: {"checks": [{"name", "ok", "detail"}]}.
const { chromium } = require("playwright-core");

const [base, runId, partition, pdsRev, shots] = process.argv.slice(2);
const WAIT = 90_000;

async function check(page, name, path, test) {
  try {
    await page.goto(base + path, { waitUntil: "domcontentloaded", timeout: WAIT });
    const detail = await test(page);
    await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
    return { name, ok: true, detail };
  } catch (error) {
    await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true }).catch(() => {});
    return { name, ok: false, detail: String(error).slice(0, 500) };
  }
}

async function textAppears(page, text) {
  await page.getByText(text, { exact: false }).first().waitFor({ timeout: WAIT });
  return `shows "${text}"`;
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  const checks = [];
  checks.push(await check(page, "asset-description-explains-metadata", "/assets/layers/fetched",
    (p) => textAppears(p, "Reported once per actor")));
  const query = new URLSearchParams({ view: "partitions", partition: partition });
  checks.push(await check(page, "partition-shows-its-metadata", `/assets/layers/fetched?${query}`,
    (p) => textAppears(p, pdsRev)));
  checks.push(await check(page, "refresh-job-page-opens", "/locations/lairs/jobs/lairs_refresh_job",
    async (p) => {
      await textAppears(p, "lairs_refresh_job");
      const missing = await p.getByText(/could not be found|not found/i).count();
      if (missing) throw new Error("the page says the job was not found");
      return "job page rendered";
    }));
  checks.push(await check(page, "run-can-be-re-executed", `/runs/${runId}`, async (p) => {
    await p.getByText(/Loading run logs/i).waitFor({ state: "detached", timeout: WAIT });
    const button = p.getByRole("button", { name: /re-execute/i }).first();
    await button.waitFor({ timeout: WAIT });
    // The button settles once the page has compared the run with the loaded job.
    for (let waited = 0; waited < 30_000 && (await button.isDisabled()); waited += 500) {
      await p.waitForTimeout(500);
    }
    if (await button.isDisabled()) {
      await button.hover({ force: true });
      await p.waitForTimeout(1000);
      const tip = await p.locator("[role=tooltip], .bp5-popover-content, .bp4-popover2-content").allInnerTexts();
      throw new Error(`the Re-execute button is disabled: ${tip.join(" | ")}`);
    }
    return "Re-execute enabled";
  }));
  await browser.close();
  console.log(JSON.stringify({ checks }));
})().catch((error) => {
  console.error(error);
  process.exit(2);
});
