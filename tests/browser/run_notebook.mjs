// Real-browser check of the lslib map app in JupyterLab (driven by tests/test_browser.py).
//
//   node run_notebook.mjs <config.json>
//
// config: {url, token, notebook, out, chromium, timeouts: {open, kernel, run, render, edit, teach}} (ms).
// Opens the notebook in headless Chromium, waits for an idle kernel, runs every cell through the menu
// (Run > Run All Cells), waits for the widgets, checks the leaflet map, the overlay image and the prompt
// editor, then edits one class name through the UI (type + Enter) and waits for the next render. Then teach
// mode: the "inspect & teach" tab, click mode "teach", a class from the dropdown, two clicks on the map
// inside the class overlay; each click must re-render the overlay, and the map must show two teaching
// markers and the teach panel "2 teaching point(s)" with a held-out accuracy.
// Writes screenshots and result.json into `out`; exits 1 with a message on the first failed check.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckFailed, check, makeRun, openNotebook, runAllCells, runInBrowser, waitFor } from './lab.mjs';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const t = { open: 120e3, kernel: 300e3, run: 1200e3, render: 180e3, edit: 180e3, teach: 120e3, ...(cfg.timeouts || {}) };
const run = makeRun(cfg.out);
const { result, log, shot } = run;

async function overlayState(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('.lslib-map img.leaflet-image-layer')].map((img) => ({
      src_head: img.src.slice(0, 22),
      src_len: img.src.length,
      src_hash: [...img.src].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7),
      complete: img.complete,
      naturalWidth: img.naturalWidth,
    })),
  );
}

async function statusText(page) {
  return page.evaluate(() => [...document.querySelectorAll('.lslib-status')].map((e) => e.textContent).join(' | '));
}

const overlayKey = (i) => `${i.src_hash}:${i.src_len}`;

// Wait until an image layer shows a data: PNG not among `previous` (loaded); returns the new overlay state.
async function waitForNewOverlay(page, previous, what, timeout) {
  const oldKeys = new Set(previous.map(overlayKey));
  let imgs;
  await waitFor(
    page,
    what,
    async () => {
      imgs = await overlayState(page);
      const fresh = imgs.filter((i) => !oldKeys.has(overlayKey(i)));
      return (fresh.length > 0 && fresh.every((i) => i.src_head.startsWith('data:image/png') && i.complete && i.naturalWidth > 0)) || imgs;
    },
    timeout,
  );
  return imgs;
}

// Wait for the status line's "rendered <n>"; an error in the status line fails at once. `context` adds
// what else the page shows (a panel's text) to the timeout message.
async function waitForRender(page, n, timeout, context = async () => ({})) {
  await waitFor(
    page,
    `status "rendered ${n}"`,
    async () => {
      const s = await statusText(page);
      if (/error/i.test(s)) throw new CheckFailed(`the app reports an error: ${s}`);
      return new RegExp(`rendered ${n}\\b`).test(s) || { status: s, ...(await context()) };
    },
    timeout,
  );
}

// The SVG paths of the map: all interactive ones (AOI outline, markers) and the teaching markers
// (ipyleaflet CircleMarker, radius 6 in TeachPanel: Leaflet draws it as "M.. a6,6 0 1,0 12,0 a6,6 0 1,0 -12,0").
async function mapPaths(page) {
  return page.evaluate(() => {
    const paths = [...document.querySelectorAll('.lslib-map path.leaflet-interactive')];
    const teach = paths.filter((p) => /a6,6 0 1,0 12,0/.test(p.getAttribute('d') || ''));
    return {
      interactive: paths.length,
      teach_markers: teach.length,
      teach_fill: teach.map((p) => p.getAttribute('fill')),
      teach_d: teach.map((p) => (p.getAttribute('d') || '').slice(0, 40)),
    };
  });
}

// Map-container pixels (viewport coordinates) at fractions (fx, fy) of the class overlay's box clipped to the
// visible map: the class layer is the second image overlay (imagery, classes, confidence, ...).
async function overlayPoint(page, fx, fy) {
  return page.evaluate(
    ([fx, fy]) => {
      const map = document.querySelector('.lslib-map .leaflet-container');
      const imgs = [...document.querySelectorAll('.lslib-map img.leaflet-image-layer')];
      const m = map.getBoundingClientRect();
      const o = (imgs[1] || imgs[0] || map).getBoundingClientRect();
      const box = {
        left: Math.max(m.left, o.left, 0),
        top: Math.max(m.top, o.top, 0),
        right: Math.min(m.right, o.right, window.innerWidth),
        bottom: Math.min(m.bottom, o.bottom, window.innerHeight),
      };
      return {
        x: box.left + fx * (box.right - box.left),
        y: box.top + fy * (box.bottom - box.top),
        box,
        map: { left: m.left, top: m.top, right: m.right, bottom: m.bottom },
        overlay: { left: o.left, top: o.top, right: o.right, bottom: o.bottom },
      };
    },
    [fx, fy],
  );
}

async function panelText(page, cls) {
  return page.evaluate((c) => [...document.querySelectorAll(`.${c}`)].map((e) => e.innerText).join(' | '), cls);
}

await runInBrowser(cfg, run, async (page) => {
  result.kernel_id = await openNotebook(page, cfg, t, log);
  await shot(page, '01-opened');
  result.run_all_s = await runAllCells(page, t, log);

  // The widgets: leaflet map, overlay image (a loaded data: PNG), prompt editor with name inputs.
  await page.waitForSelector('.lslib-map .leaflet-container', { timeout: t.render });
  await page.waitForSelector('.lslib-prompt-editor', { timeout: t.render });
  await waitFor(
    page,
    'a loaded data:image/png overlay',
    async () => {
      const imgs = await overlayState(page);
      return imgs.some((i) => i.src_head.startsWith('data:image/png') && i.complete && i.naturalWidth > 0) || imgs;
    },
    t.render,
  );
  const before = await overlayState(page);
  const nameInputs = page.locator('.lslib-prompt-editor .lslib-prompt-name input');
  const nInputs = await nameInputs.count();
  check(nInputs > 0, 'no name inputs (.lslib-prompt-name input) in the prompt editor');
  const status0 = await statusText(page);
  const m = status0.match(/rendered (\d+)/);
  check(m, `status text without "rendered <n>": ${JSON.stringify(status0)}`);
  const n0 = Number(m[1]);
  result.before = { overlays: before, status: status0, name_inputs: nInputs, rendered: n0 };
  log(`map + ${before.length} image layer(s) + editor with ${nInputs} class names; status "${status0.trim()}"`);
  await page.locator('.lslib-app').first().scrollIntoViewIfNeeded();
  await shot(page, '02-map');
  await page.locator('.lslib-app').first().screenshot({ path: join(cfg.out, '02-app.png') });
  result.screenshots.push(join(cfg.out, '02-app.png'));

  // Edit one class name through the UI: type a new name, press Enter -> one re-render.
  // A name not already in the list (a duplicate is refused by the editor and would not re-render).
  const input = nameInputs.first();
  const oldName = await input.inputValue();
  const taken = new Set((await nameInputs.evaluateAll((els) => els.map((e) => e.value))).map((v) => v.trim().toLowerCase()));
  const newName = [cfg.new_name, 'open water', 'lake', 'river', 'dense woodland', 'wetland'].find(
    (n) => n && !taken.has(n.toLowerCase()),
  );
  await input.click();
  await input.fill(newName);
  await input.press('Enter');
  log(`renamed class 0 "${oldName}" -> "${newName}" (Enter)`);
  await waitForRender(page, n0 + 1, t.edit, async () => ({
    editor: (await page.locator('.lslib-prompt-editor').first().innerText()).slice(-600),
  }));
  const after = await waitForNewOverlay(page, before, 'a new overlay image', t.render);
  result.after = { overlays: after, status: await statusText(page), name: await input.inputValue(), old_name: oldName };
  log(`re-rendered: status "${result.after.status.trim()}"`);
  await shot(page, '03-edited');
  await page.locator('.lslib-app').first().screenshot({ path: join(cfg.out, '03-app.png') });
  result.screenshots.push(join(cfg.out, '03-app.png'));

  // Teach mode: "inspect & teach" tab, click mode "teach", a class, two clicks inside the class overlay.
  const teachStart = Date.now();
  const app = page.locator('.lslib-app').first();
  const tab = app.locator('.lm-TabBar-tab', { hasText: 'inspect & teach' }).first();
  check((await tab.count()) > 0, `no "inspect & teach" tab in the app; tabs: ${JSON.stringify(
    await app.locator('.lm-TabBar-tab').allInnerTexts())}`);
  await tab.click();
  const inspect = app.locator('.lslib-inspect-panel').first();
  await inspect.waitFor({ state: 'visible', timeout: 30e3 });
  const teachButton = inspect.locator('.widget-toggle-buttons button', { hasText: /^\s*teach\s*$/ }).first();
  check((await teachButton.count()) > 0, `no "teach" toggle button in the inspect panel: ${JSON.stringify(
    await inspect.locator('.widget-toggle-buttons button').allInnerTexts())}`);
  await teachButton.click();
  await waitFor(page, 'the "teach" toggle button to be active', async () =>
    (await teachButton.evaluate((b) => b.classList.contains('mod-active'))) || await inspect.innerText(), 30e3);
  const classSelect = inspect.locator('.widget-dropdown select').first();
  check((await classSelect.count()) > 0, 'no class dropdown (.widget-dropdown select) in the inspect panel');
  // option labels as rendered (ipywidgets writes spaces as &nbsp;): select by the raw label, report plain text
  const plain = (v) => v.replace(/\u00a0/g, ' ').trim();
  const labels = await classSelect.locator('option').allTextContents();
  const classes = labels.map(plain);
  const current = plain(await classSelect.evaluate((sel) => (sel.selectedOptions[0] || {}).textContent || ''));
  check(classes.length > 0, 'the class dropdown of the inspect panel is empty');
  // a class other than the preselected one (exercises the dropdown), e.g. "forest" (row 1)
  const teachClass = cfg.teach_class && classes.includes(cfg.teach_class)
    ? cfg.teach_class
    : classes.find((c) => c !== current) || classes[0];
  await classSelect.selectOption({ label: labels[classes.indexOf(teachClass)] });
  await waitFor(page, `class "${teachClass}" selected in the dropdown`, async () => {
    const sel = plain(await classSelect.evaluate((el) => (el.selectedOptions[0] || {}).textContent || ''));
    return sel === teachClass || sel;
  }, 30e3);
  log(`teach mode, class "${teachClass}" (was "${current}"; of ${JSON.stringify(classes)})`);

  await page.locator('.lslib-map').first().scrollIntoViewIfNeeded();
  const teachBefore = {
    overlays: await overlayState(page),
    status: await statusText(page),
    paths: await mapPaths(page),
  };
  const nT = Number((teachBefore.status.match(/rendered (\d+)/) || [])[1]);
  check(Number.isFinite(nT), `status text without "rendered <n>": ${JSON.stringify(teachBefore.status)}`);
  check(teachBefore.paths.teach_markers === 0, `teaching markers on the map before any teach click: ${JSON.stringify(teachBefore.paths)}`);
  const teachContext = async () => ({
    inspect: (await panelText(page, 'lslib-inspect-panel')).slice(0, 400),
    teach: (await panelText(page, 'lslib-teach-panel')).slice(0, 400),
  });
  const clicks = [];
  let previous = teachBefore.overlays;
  for (const [k, [fx, fy]] of [[0.4, 0.4], [0.6, 0.6]].entries()) {
    const pt = await overlayPoint(page, fx, fy);
    check(pt.box.right - pt.box.left > 20 && pt.box.bottom - pt.box.top > 20,
      `the class overlay is not visible on the map for a click: ${JSON.stringify(pt)}`);
    await page.mouse.click(pt.x, pt.y);
    log(`teach click ${k + 1} at (${pt.x.toFixed(0)}, ${pt.y.toFixed(0)}) px, ${fx * 100} % / ${fy * 100} % of the overlay`);
    // a refused click (e.g. "outside the area of interest") shows in the inspect panel and never re-renders
    await waitForRender(page, nT + k + 1, t.teach, async () => {
      const ctx = await teachContext();
      if (/outside|nodata|choose the class|error|not one of/i.test(ctx.inspect)) {
        throw new CheckFailed(`teach click ${k + 1} at ${JSON.stringify(pt)} was refused: inspect panel "${ctx.inspect}"`);
      }
      return ctx;
    });
    previous = await waitForNewOverlay(page, previous, `a new class overlay after teach click ${k + 1}`, t.render);
    clicks.push({ x: pt.x, y: pt.y, fx, fy, box: pt.box, status: await statusText(page) });
  }
  let teachPaths;
  await waitFor(
    page,
    'two teaching markers (CircleMarker paths, radius 6) on the map',
    async () => {
      teachPaths = await mapPaths(page);
      return (teachPaths.teach_markers === 2 && teachPaths.interactive === teachBefore.paths.interactive + 2)
        || { before: teachBefore.paths, now: teachPaths };
    },
    t.teach,
  );
  let teachPanel;
  await waitFor(
    page,
    'the teach panel to show "2 teaching point(s)" and a "held-out accuracy"',
    async () => {
      teachPanel = await panelText(page, 'lslib-teach-panel');
      const ok = /\b2 teaching point\(s\)/.test(teachPanel) && /held-out accuracy/.test(teachPanel)
        && plain(teachPanel).includes(teachClass);
      return ok || teachPanel.slice(0, 600);
    },
    t.teach,
  );
  result.teach = {
    class: teachClass,
    classes,
    before: teachBefore,
    clicks,
    after: { overlays: previous, status: await statusText(page), paths: teachPaths },
    panel: teachPanel,
    inspect_message: (await panelText(page, 'lslib-inspect-panel')).slice(0, 400),
    seconds: (Date.now() - teachStart) / 1000,
  };
  const panelLines = teachPanel.split('\n').filter((l) => /teaching point|held-out accuracy/.test(l));
  log(`taught: status "${result.teach.after.status.trim()}", ${teachPaths.teach_markers} teaching markers, `
    + `teach panel "${panelLines.join(' / ')}" (${result.teach.seconds.toFixed(1)} s)`);
  await shot(page, '04-taught');
  await app.screenshot({ path: join(cfg.out, '04-app.png') });
  result.screenshots.push(join(cfg.out, '04-app.png'));
});
