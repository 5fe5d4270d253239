// What both real-browser checks share (run_notebook.mjs: the map app; run_view.mjs: lslib.mapui.view):
// a run record with a log and screenshots, polling with a timeout, the kernel state as a user sees it, opening a
// notebook in JupyterLab, waiting for one stable idle kernel, Run > Run All Cells through the menu, and the
// launch / failure screenshot / result.json / exit code around a check.
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export class CheckFailed extends Error {}

export function check(cond, msg) {
  if (!cond) throw new CheckFailed(msg);
}

// The run record written to <out>/result.json, its log and screenshots.
export function makeRun(out, extra = {}) {
  mkdirSync(out, { recursive: true });
  const result = { steps: [], screenshots: [], console_errors: [], ...extra };
  const log = (msg) => {
    const line = `[browser ${new Date().toISOString().slice(11, 19)}] ${msg}`;
    result.steps.push(line);
    console.log(line);
  };
  const shot = async (page, name) => {
    const path = join(out, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
    result.screenshots.push(path);
    log(`screenshot ${path}`);
  };
  return { out, result, log, shot };
}

// Poll `fn` until it returns true; anything else it returns is shown in the timeout message.
export async function waitFor(page, what, fn, timeout, every = 500) {
  const start = Date.now();
  let last;
  while (Date.now() - start < timeout) {
    last = await fn();
    if (last === true) return;
    await page.waitForTimeout(every);
  }
  throw new CheckFailed(`timed out after ${Math.round(timeout / 1000)} s waiting for ${what} (last: ${JSON.stringify(last)})`);
}

// Kernel state as the user sees it: the notebook toolbar's execution indicator, else the status bar.
export async function kernelStatus(page) {
  return page.evaluate(() => {
    const ind = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
    if (ind && ind.getAttribute('data-status')) return ind.getAttribute('data-status');
    const bar = document.querySelector('#jp-main-statusbar');
    const text = bar ? bar.textContent || '' : '';
    const m = text.match(/\|\s*(Idle|Busy|Starting|Connecting|Restarting|Unknown|Dead)/i);
    return m ? m[1].toLowerCase() : 'unknown';
  });
}

// Cells still queued or running show "[*]:" as their prompt; errors render with the error mime type.
export async function cellsState(page) {
  return page.evaluate(() => {
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map((p) => p.textContent.trim());
    const errors = [...document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')]
      .map((e) => e.textContent.slice(-2000));
    return { prompts, errors };
  });
}

// Open cfg.notebook in JupyterLab, then wait until its one session keeps the same idle kernel for 3 s, in the
// page and on the server (JupyterLab may start a kernel and replace it a moment later). Returns the kernel id.
export async function openNotebook(page, cfg, t, log) {
  const url = `${cfg.url}/lab/tree/${encodeURIComponent(cfg.notebook)}?reset&token=${cfg.token}`;
  log(`open ${cfg.url}/lab/tree/${cfg.notebook}`);
  await page.goto(url, { timeout: t.open, waitUntil: 'domcontentloaded' });
  await page.waitForSelector('.jp-NotebookPanel .jp-Notebook .jp-Cell', { timeout: t.open });
  log('notebook open');
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
  return lastKernel;
}

// Run > Run All Cells through the menu bar like a user; wait until every cell ran (a cell error fails at once,
// cells queued on an idle kernel for a minute mean lost requests). Returns the seconds it took.
export async function runAllCells(page, t, log) {
  await page.locator('.lm-MenuBar-item', { hasText: /^Run$/ }).first().click();
  const runAll = page.locator('.lm-Menu-content .lm-Menu-item', { hasText: /^Run All Cells/ }).first();
  await runAll.waitFor({ state: 'visible', timeout: 30e3 });
  await runAll.click();
  log('Run > Run All Cells');
  const start = Date.now();
  let idleWithQueue = 0;
  await waitFor(
    page,
    'every cell to finish',
    async () => {
      const s = await cellsState(page);
      if (s.errors.length) throw new CheckFailed(`a cell raised an error:\n${s.errors.join('\n---\n')}`);
      const pending = s.prompts.filter((p) => p.includes('*') || p === '[ ]:' || p === '[]:' || p === '').length;
      const status = await kernelStatus(page);
      idleWithQueue = pending > 0 && status === 'idle' ? idleWithQueue + 1 : 0;
      if (idleWithQueue > 60) throw new CheckFailed(`cells stay queued on an idle kernel: ${s.prompts.join(' ')}`);
      return (pending === 0 && status === 'idle') || { pending, status, prompts: s.prompts.slice(0, 40) };
    },
    t.run,
    1000,
  );
  const seconds = (Date.now() - start) / 1000;
  log(`all cells ran in ${seconds.toFixed(1)} s`);
  return seconds;
}

// Launch headless Chromium (cfg.chromium), run `body(page)`, and always write result.json and exit: 0 when the
// body returned, 1 (with a failure screenshot and the page's text) when it threw.
export async function runInBrowser(cfg, run, body) {
  const { result, shot } = run;
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
    await body(page);
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
    writeFileSync(join(run.out, 'result.json'), JSON.stringify(result, null, 2));
    await browser.close();
  }
  process.exit(exitCode);
}
