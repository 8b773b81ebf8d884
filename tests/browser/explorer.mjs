// Opens each explorer page in headless Chromium (Debian's, driven by playwright-core
// over the DevTools protocol) and reports, as one JSON line on stdout, for each page:
// its HTTP status, console errors, failed requests, and every shown value and chart
// point compared with the JSON API it names (data-src / data-key, g.series, g.band).
// A full-page screenshot of each page goes to the directory given.
//   node explorer.mjs BASE_URL SCREENSHOT_DIR '[{"name": "network", "path": "/"}, ...]'
import { chromium } from "playwright-core";

const [base, shots, pagesJson] = process.argv.slice(2);
const pages = JSON.parse(pagesJson);

// Flags for a closed network: no background connections, no first-run work.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

// Runs in the page: compares what it shows with the API it names.
async function compare() {
  const cache = new Map();
  const get = async (url) => {
    if (!cache.has(url)) cache.set(url, fetch(url).then((r) => r.json()));
    return cache.get(url);
  };
  const resolve = (value, path) =>
    path.split(".").reduce((v, key) => (v === null || v === undefined ? undefined : v[key]), value);
  const text = (v) => (v === null || v === undefined ? "—" : String(v));
  const mismatches = [];
  let values = 0;
  for (const el of document.querySelectorAll("[data-src][data-key]")) {
    values += 1;
    const want = text(resolve(await get(el.dataset.src), el.dataset.key));
    const shown = el.textContent.trim();
    if (shown !== want) mismatches.push({ src: el.dataset.src, key: el.dataset.key, shown, want });
  }
  const charts = [];
  for (const g of document.querySelectorAll("g.series")) {
    const items = resolve(await get(g.dataset.src), g.dataset.path) || [];
    const want = items
      .filter((i) => resolve(i, g.dataset.y) !== null && resolve(i, g.dataset.y) !== undefined)
      .map((i) => [text(resolve(i, g.dataset.x)), text(resolve(i, g.dataset.y))]);
    const drawn = [...g.querySelectorAll("[data-x][data-y]")].map((e) => [e.dataset.x, e.dataset.y]);
    charts.push({ kind: "series", src: g.dataset.src, y: g.dataset.y, points: drawn.length });
    if (JSON.stringify(want) !== JSON.stringify(drawn)) {
      mismatches.push({ src: g.dataset.src, series: g.dataset.y, drawn, want });
    }
  }
  for (const g of document.querySelectorAll("g.band")) {
    const items = resolve(await get(g.dataset.src), g.dataset.path) || [];
    const want = items
      .filter((i) => resolve(i, g.dataset.low) != null)
      .map((i) => [text(resolve(i, g.dataset.x)), text(resolve(i, g.dataset.low)), text(resolve(i, g.dataset.high))]);
    const drawn = [...g.querySelectorAll("[data-low]")]
      .filter((e) => e.tagName !== "g")
      .map((e) => [e.dataset.x, e.dataset.low, e.dataset.high]);
    charts.push({ kind: "band", src: g.dataset.src, y: g.dataset.low, points: drawn.length });
    if (JSON.stringify(want) !== JSON.stringify(drawn)) {
      mismatches.push({ src: g.dataset.src, band: g.dataset.low, drawn, want });
    }
  }
  const links = [...document.querySelectorAll("a[href]")].map((a) => a.getAttribute("href"));
  const overflow = document.documentElement.scrollWidth - document.documentElement.clientWidth;
  return { values, charts, mismatches, links, title: document.title, text: document.body.innerText, overflow };
}

const results = [];
for (const { name, path, phone } of pages) {
  const viewport = phone ? { width: 390, height: 844 } : { width: 1280, height: 900 };
  const page = await browser.newPage({ viewport });
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("response", (r) => { if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`); });
  page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  const response = await page.goto(base + path, { waitUntil: "load" });
  // The countdown's first tick has run once the script loaded (it is deferred).
  await page.waitForFunction(() => [...document.querySelectorAll("time[data-countdown]")]
    .every((t) => t.textContent !== "…"));
  const checked = await page.evaluate(compare);
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  results.push({ name, path, final_url: page.url(), status: response.status(), errors, ...checked });
  await page.close();
}
await browser.close();
console.log(JSON.stringify(results));
