// Real-browser check of the lslib map app in JupyterLab (driven by tests/test_browser.py).
//
//   node run_notebook.mjs <config.json>
//
// config: {url, token, notebook, out, chromium, timeouts: {open, kernel, run, render, edit}} (ms).
// Opens the notebook in headless Chromium, waits for an idle kernel, runs every cell through the menu
// (Run > Run All Cells), waits for the widgets, checks the leaflet map, the overlay image and the prompt
// editor, then edits one class name through the UI (type + Enter) and waits for the next render.
// Writes screenshots and result.json into `out`; exits 1 with a message on the first failed check.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const t = { open: 120e3, kernel: 300e3, run: 1200e3, render: 180e3, edit: 180e3, ...(cfg.timeouts || {}) };
mkdirSync(cfg.out, { recursive: true });
const result = { steps: [], screenshots: [], console_errors: [] };
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

// Kernel state as the user sees it: the notebook toolbar's execution indicator, else the status bar.
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

// Cells still queued or running show "[*]:" as their prompt; errors render with the error mime type.
async function cellsState(page) {
  return page.evaluate(() => {
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map((p) => p.textContent.trim());
    const errors = [...document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')]
      .map((e) => e.textContent.slice(-2000));
    return { prompts, errors };
  });
}

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

  const url = `${cfg.url}/lab/tree/${encodeURIComponent(cfg.notebook)}?reset&token=${cfg.token}`;
  log(`open ${cfg.url}/lab/tree/${cfg.notebook}`);
  await page.goto(url, { timeout: t.open, waitUntil: 'domcontentloaded' });
  await page.waitForSelector('.jp-NotebookPanel .jp-Notebook .jp-Cell', { timeout: t.open });
  log('notebook open');

  // JupyterLab may start a kernel and replace it a moment later (session set-up + autoStartDefaultKernel):
  // wait until the notebook's one session keeps the same idle kernel for 3 s, in the page and on the server.
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
  result.kernel_id = lastKernel;
  log(`kernel ${lastKernel} idle`);
  await shot(page, '01-opened');

  // Run > Run All Cells, through the menu bar like a user.
  await page.locator('.lm-MenuBar-item', { hasText: /^Run$/ }).first().click();
  const runAll = page.locator('.lm-Menu-content .lm-Menu-item', { hasText: /^Run All Cells/ }).first();
  await runAll.waitFor({ state: 'visible', timeout: 30e3 });
  await runAll.click();
  log('Run > Run All Cells');

  const runStart = Date.now();
  let idleWithQueue = 0;
  await waitFor(
    page,
    'every cell to finish',
    async () => {
      const s = await cellsState(page);
      if (s.errors.length) throw new CheckFailed(`a cell raised an error:\n${s.errors.join('\n---\n')}`);
      const pending = s.prompts.filter((p) => p.includes('*') || p === '[ ]:' || p === '[]:' || p === '').length;
      const status = await kernelStatus(page);
      // queued cells on an idle kernel for a minute: the requests were lost (e.g. sent to a replaced kernel)
      idleWithQueue = pending > 0 && status === 'idle' ? idleWithQueue + 1 : 0;
      if (idleWithQueue > 60) throw new CheckFailed(`cells stay queued on an idle kernel: ${s.prompts.join(' ')}`);
      return (pending === 0 && status === 'idle') || { pending, status, prompts: s.prompts.slice(0, 40) };
    },
    t.run,
    1000,
  );
  result.run_all_s = (Date.now() - runStart) / 1000;
  log(`all cells ran in ${result.run_all_s.toFixed(1)} s`);

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
  await waitFor(
    page,
    `status "rendered ${n0 + 1}"`,
    async () => {
      const s = await statusText(page);
      if (/error/i.test(s)) throw new CheckFailed(`the app reports an error: ${s}`);
      const editor = await page.locator('.lslib-prompt-editor').first().innerText();
      return new RegExp(`rendered ${n0 + 1}\\b`).test(s) || { status: s, editor: editor.slice(-600) };
    },
    t.edit,
  );
  await waitFor(
    page,
    'a new overlay image',
    async () => {
      const imgs = await overlayState(page);
      const oldHashes = new Set(before.map((i) => `${i.src_hash}:${i.src_len}`));
      const fresh = imgs.filter((i) => !oldHashes.has(`${i.src_hash}:${i.src_len}`));
      return (fresh.length > 0 && fresh.every((i) => i.src_head.startsWith('data:image/png') && i.complete && i.naturalWidth > 0)) || imgs;
    },
    t.render,
  );
  const after = await overlayState(page);
  result.after = { overlays: after, status: await statusText(page), name: await input.inputValue(), old_name: oldName };
  log(`re-rendered: status "${result.after.status.trim()}"`);
  await shot(page, '03-edited');
  await page.locator('.lslib-app').first().screenshot({ path: join(cfg.out, '03-app.png') });
  result.screenshots.push(join(cfg.out, '03-app.png'));
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
