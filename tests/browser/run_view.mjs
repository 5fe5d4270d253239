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
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { check, makeRun, openNotebook, runAllCells, runInBrowser, waitFor } from './lab.mjs';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const t = { open: 120e3, kernel: 300e3, run: 600e3, tiles: 180e3, ...(cfg.timeouts || {}) };
const minTiles = cfg.min_tiles || 2;
const TILE_RE = /\/localtileserver-proxy\/\d+\/api\/tiles\//;
const run = makeRun(cfg.out, { tile_responses: [], failed_requests: [] });
const { result, log, shot } = run;

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

await runInBrowser(cfg, run, async (page) => {
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

  await openNotebook(page, cfg, t, log);
  result.run_all_s = await runAllCells(page, t, log);

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
});
