// Real-browser check of lslib.mapui.view (lslib.mapui.result_view) in JupyterLab (driven by tests/test_browser.py).
//
//   node run_view.mjs <config.json>
//
// config: {url, token, notebook, out, chromium, legend: [class names], min_tiles, timeouts: {open, kernel, run, tiles}} (ms).
// Opens a one-cell notebook (`from lslib.mapui import view; v = view(OUT); v`) in headless Chromium, waits for an
// idle kernel, runs it through the menu (Run > Run All Cells) and checks: the leaflet map of the view
// (.lslib-result-map .leaflet-container); class tiles in the results pane served by localtileserver through the
// /localtileserver-proxy/<port>/ server extension (img.leaflet-tile, loaded, 256 px wide; at least `min_tiles`
// of them answered HTTP 200); the legend (.lslib-legend) names every class in `legend`.
// Writes screenshots and result.json into `out`; exits 1 with a message on the first failed check.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const t = { open: 120e3, kernel: 300e3, run: 600e3, tiles: 180e3, ...(cfg.timeouts || {}) };
const minTiles = cfg.min_tiles || 2;
const TILE_RE = /\/localtileserver-proxy\/\d+\/api\/tiles\//;
mkdirSync(cfg.out, { recursive: true });
const result = { steps: [], screenshots: [], console_errors: [], tile_responses: [], failed_requests: [] };
const log = (msg) => {
  const line = `[browser ${new Date().toISOString().slice(11, 19)}] ${msg}`;
  result.steps.push(line);
  console.log(line);
};

class CheckFailed extends Error {}
function check(cond, msg) {
  if (!cond) throw new CheckFailed(msg);
}

async function shot(page, name) {
  const path = join(cfg.out, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  result.screenshots.push(path);
  log(`screenshot ${path}`);
}

async function kernelStatus(page) {
  return page.evaluate(() => {
    const ind = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
    if (ind && ind.getAttribute('data-status')) return ind.getAttribute('data-status');
    const bar = document.querySelector('#jp-main-statusbar');
    const text = bar ? bar.textContent || '' : '';
    const m = text.match(/\|\s*(Idle|Busy|Starting|Connecting|Restarting|Unknown|Dead)/i);
    return m ? m[1].toLowerCase() : 'unknown';
  });
}

async function waitFor(page, what, fn, timeout, every = 500) {
  const start = Date.now();
  let last;
  while (Date.now() - start < timeout) {
    last = await fn();
    if (last === true) return;
    await page.waitForTimeout(every);
  }
  throw new CheckFailed(`timed out after ${Math.round(timeout / 1000)} s waiting for ${what} (last: ${JSON.stringify(last)})`);
}

async function cellsState(page) {
  return page.evaluate(() => {
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map((p) => p.textContent.trim());
    const errors = [...document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')]
      .map((e) => e.textContent.slice(-2000));
    return { prompts, errors };
  });
}

// Tile images of the results pane (classes; confidence is hidden) and of the whole map, as the DOM has them.
async function tileState(page, re) {
  return page.evaluate((src) => {
    const re = new RegExp(src);
    const map = document.querySelector('.lslib-result-map');
    const pane = map && map.querySelector('.leaflet-lslib-results-pane');
    const info = (i) => ({ src: i.src, complete: i.complete, naturalWidth: i.naturalWidth });
    const all = map ? [...map.querySelectorAll('img.leaflet-tile')] : [];
    const results = pane ? [...pane.querySelectorAll('img.leaflet-tile')] : [];
    return {
      pane: !!pane,
      results: results.filter((i) => re.test(i.src)).map(info),
      results_other: results.filter((i) => !re.test(i.src)).map((i) => i.src.slice(0, 160)),
      map_tiles: all.length,
    };
  }, re.source);
}

const browser = await chromium.launch({
  executablePath: cfg.chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
let page;
let exitCode = 0;
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') result.console_errors.push(msg.text().slice(0, 500));
  });
  page.on('pageerror', (err) => result.console_errors.push(`pageerror: ${String(err).slice(0, 500)}`));
  const tileStatus = new Map(); // tile url -> last HTTP status
  page.on('response', (r) => {
    if (TILE_RE.test(r.url())) {
      tileStatus.set(r.url(), r.status());
      result.tile_responses.push(`${r.status()} ${r.url().slice(0, 200)}`);
    }
  });
  page.on('requestfailed', (r) => {
    if (TILE_RE.test(r.url())) result.failed_requests.push(`${r.url().slice(0, 200)} ${r.failure()?.errorText}`);
  });

  const url = `${cfg.url}/lab/tree/${encodeURIComponent(cfg.notebook)}?reset&token=${cfg.token}`;
  log(`open ${cfg.url}/lab/tree/${cfg.notebook}`);
  await page.goto(url, { timeout: t.open, waitUntil: 'domcontentloaded' });
  await page.waitForSelector('.jp-NotebookPanel .jp-Notebook .jp-Cell', { timeout: t.open });
  log('notebook open');

  // as run_notebook.mjs: the notebook's one session must keep the same idle kernel for 3 s before running
  let stable = 0;
  let lastKernel = null;
  await waitFor(
    page,
    'one idle kernel, stable for 3 s',
    async () => {
      const status = await kernelStatus(page);
      const res = await page.request.get(`${cfg.url}/api/sessions?token=${cfg.token}`);
      const sessions = (await res.json()).filter((x) => (x.path || '').endsWith(cfg.notebook));
      const k = sessions.length === 1 && sessions[0].kernel ? sessions[0].kernel : null;
      const ok = status === 'idle' && k && k.execution_state === 'idle' && k.id === lastKernel;
      lastKernel = k ? k.id : null;
      stable = ok ? stable + 1 : 0;
      return stable >= 3 || { status, sessions: sessions.length, kernel: k && k.execution_state };
    },
    t.kernel,
    1000,
  );
  log(`kernel ${lastKernel} idle`);

  await page.locator('.lm-MenuBar-item', { hasText: /^Run$/ }).first().click();
  const runAll = page.locator('.lm-Menu-content .lm-Menu-item', { hasText: /^Run All Cells/ }).first();
  await runAll.waitFor({ state: 'visible', timeout: 30e3 });
  await runAll.click();
  log('Run > Run All Cells');

  const runStart = Date.now();
  await waitFor(
    page,
    'the cell to finish',
    async () => {
      const s = await cellsState(page);
      if (s.errors.length) throw new CheckFailed(`a cell raised an error:\n${s.errors.join('\n---\n')}`);
      const pending = s.prompts.filter((p) => p.includes('*') || p === '[ ]:' || p === '[]:' || p === '').length;
      const status = await kernelStatus(page);
      return (pending === 0 && status === 'idle') || { pending, status, prompts: s.prompts };
    },
    t.run,
    1000,
  );
  result.run_all_s = (Date.now() - runStart) / 1000;
  log(`cell ran in ${result.run_all_s.toFixed(1)} s`);

  await page.waitForSelector('.lslib-result-map .leaflet-container', { timeout: t.tiles });
  log('leaflet map of the view shown');
  await page.locator('.lslib-result-map').first().scrollIntoViewIfNeeded();

  // class tiles: in the results pane, through the tile proxy, all loaded as 256 px PNGs; >= minTiles with HTTP 200
  const tilesStart = Date.now();
  let tiles;
  await waitFor(
    page,
    `>= ${minTiles} loaded class tiles (256 px) in the results pane with HTTP 200`,
    async () => {
      tiles = await tileState(page, TILE_RE);
      const ok200 = tiles.results.filter((i) => tileStatus.get(i.src) === 200);
      const done = tiles.results.length >= minTiles && ok200.length >= minTiles
        && tiles.results.every((i) => i.complete && i.naturalWidth === 256);
      return done || { ...tiles, results: tiles.results.map((i) => ({ ...i, src: i.src.slice(0, 160), status: tileStatus.get(i.src) })),
        failed: result.failed_requests.slice(-5) };
    },
    t.tiles,
  );
  result.tiles = {
    ...tiles,
    http200: tiles.results.filter((i) => tileStatus.get(i.src) === 200).length,
    seconds: (Date.now() - tilesStart) / 1000,
  };
  log(`${tiles.results.length} class tile(s) loaded in the results pane, ${result.tiles.http200} with HTTP 200 `
    + `(${tiles.map_tiles} tile image(s) on the map), e.g. ${tiles.results[0].src.replace(cfg.url, '').slice(0, 100)}`);

  // the legend names every class of the view's legend
  const legend = page.locator('.lslib-result-map .lslib-legend').first();
  await legend.waitFor({ state: 'visible', timeout: 30e3 });
  const legendText = (await legend.innerText()).replace(/\u00a0/g, ' ');
  result.legend = legendText;
  const missing = (cfg.legend || []).filter((n) => !legendText.includes(n));
  check((cfg.legend || []).length > 0, 'no expected legend names in the config');
  check(missing.length === 0, `the legend lacks ${JSON.stringify(missing)}: ${JSON.stringify(legendText)}`);
  log(`legend: ${JSON.stringify(legendText)}`);

  await shot(page, '11-view');
  await page.locator('.lslib-result-map').first().screenshot({ path: join(cfg.out, '11-view-map.png') });
  result.screenshots.push(join(cfg.out, '11-view-map.png'));
  result.ok = true;
} catch (err) {
  exitCode = 1;
  result.ok = false;
  result.error = String(err && err.stack ? err.stack : err);
  console.error(`FAILED: ${err instanceof CheckFailed ? err.message : result.error}`);
  if (page) {
    try {
      await shot(page, '99-failure');
      result.page_text = (await page.evaluate(() => document.body.innerText)).slice(-5000);
    } catch (e) {
      console.error(`(no failure screenshot: ${e})`);
    }
  }
} finally {
  writeFileSync(join(cfg.out, 'result.json'), JSON.stringify(result, null, 2));
  await browser.close();
}
process.exit(exitCode);
