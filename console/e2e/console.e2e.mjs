// The console end to end, in a real headless Chromium, against a running stack:
//   node e2e/console.e2e.mjs            (API_URL, REMOTE_URL, DEMO_USER, DEMO_PASSWORD, OUT_DIR)
// A person's path through it: log in (once wrongly), page, sort and search the posts, open
// one, fail a save with a blank title, lose an If-Match race, save, add a comment and delete
// it, run the sync from the dashboard, and find the edit on the remote. Each step leaves a
// screenshot in OUT_DIR; any step that does not see what a user must see fails the run.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const api = process.env.API_URL ?? 'http://127.0.0.1:8080';
const remote = process.env.REMOTE_URL ?? 'http://127.0.0.1:3000';
const user = process.env.DEMO_USER ?? 'demo';
const password = process.env.DEMO_PASSWORD ?? 'demo-password';
const out = process.env.OUT_DIR ?? 'e2e-output';
mkdirSync(out, { recursive: true });

function browserPath() {
    const candidates = [process.env.CHROME_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
    const found = candidates.find((p) => p && existsSync(p));
    if (!found) throw new Error('no Chromium or Chrome found: install chromium or set CHROME_PATH');
    return found;
}

const browser = await chromium.launch({
    executablePath: browserPath(),
    // As root in a container; and no calls home, which this machine's network refuses.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
const page = await context.newPage();
const consoleErrors = [];
page.on('pageerror', (e) => consoleErrors.push(String(e)));
page.setDefaultTimeout(20_000);

let step = 0;
async function shot(name) {
    step += 1;
    const file = join(out, `${String(step).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    console.log(`  ok  ${name}  (${file})`);
}
/** Waits for a notification saying `text`. */
async function notified(text) {
    await page.locator('.MuiSnackbarContent-message, .MuiAlert-message', { hasText: text }).first().waitFor();
}
async function dismissNotifications() {
    await page.keyboard.press('Escape');
    await page.locator('.MuiSnackbar-root').first().waitFor({ state: 'detached', timeout: 10_000 }).catch(() => {});
}
/** The rows' titles once they are no longer `before` (react-admin keeps the old page until the new one is in). */
async function rowTitlesChangedFrom(before) {
    await page.waitForFunction(
        (old) => {
            const cells = [...document.querySelectorAll('.RaDatagrid-table tbody tr td.column-title')];
            return cells.length > 0 && JSON.stringify(cells.map((c) => c.innerText.trim())) !== old;
        },
        JSON.stringify(before),
    );
    return rowTitles();
}
async function rowTitles() {
    await page.locator('.RaDatagrid-table tbody tr').first().waitFor();
    return page.locator('.RaDatagrid-table tbody tr td.column-title').allInnerTexts();
}
async function apiToken() {
    const r = await fetch(`${api}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: user, password }),
    });
    assert.equal(r.status, 200, 'the API gives a token');
    return (await r.json()).access_token;
}

try {
    // --- Log in: once wrongly, then rightly.
    await page.goto(`${api}/admin/`);
    await page.locator('input[name="username"]').fill(user);
    await page.locator('input[name="password"]').fill('not-the-password');
    await page.locator('button[type="submit"]').click();
    await notified(/Wrong user name or password/);
    await shot('login-refused');
    await dismissNotifications();
    await page.locator('input[name="password"]').fill(password);
    await page.locator('button[type="submit"]').click();
    await page.getByTestId('sync-dashboard').waitFor();
    await page.getByTestId('local').filter({ hasText: /^\d+$/ }).waitFor();
    await shot('dashboard');

    // --- Posts: the list, its pages, sorting, search.
    await page.goto(`${api}/admin/#/posts`);
    const firstPage = await rowTitles();
    assert.equal(firstPage.length, 25, 'a page of 25 posts');
    await shot('posts-list');
    await page.getByRole('button', { name: 'Go to next page' }).click();
    await page.waitForURL(/page=2/);
    const secondPage = await rowTitlesChangedFrom(firstPage);
    assert.notDeepEqual(secondPage, firstPage, 'page 2 shows other posts');
    await shot('posts-page-2');
    await page.locator('.RaDatagrid-table thead').getByText('Title', { exact: true }).click();
    await page.waitForURL(/sort=title/);
    const sorted = await rowTitlesChangedFrom(secondPage);
    assert.deepEqual(sorted, [...sorted].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), 'sorted by title');
    await shot('posts-sorted-by-title');
    // Search for the first post by its title, as it is now (a rerun finds it edited by the last run).
    const [first] = await (await fetch(`${api}/posts?_sort=id&_order=asc&_limit=1`)).json();
    const wanted = first.title;
    await page.locator('input[name="q"]').fill(wanted);
    await page.waitForURL(/filter=%7B%22q%22/);
    const found = await rowTitlesChangedFrom(sorted);
    assert.equal(found[0], wanted, 'the search finds the post by its title');
    assert.ok(found.length < 25, 'and not every post');
    await shot('posts-search');

    // --- Open it: the post, its comments, its sync state.
    await page.locator('.RaDatagrid-table tbody tr').first().click();
    await page.waitForURL(/#\/posts\/\d+\/show/);
    const postId = Number(page.url().match(/posts\/(\d+)\/show/)[1]);
    await page.getByTestId('sync-status').waitFor();
    await page.getByTestId('remote-id').filter({ hasText: /remote id \d+|not on the remote yet/ }).waitFor();
    await shot('post-show');

    // --- A save the API refuses: its message on the field.
    await page.getByRole('link', { name: 'Edit' }).first().click();
    const title = page.locator('input[name="title"]');
    await title.waitFor();
    await title.fill('   ');
    await page.getByRole('button', { name: 'Save' }).click();
    // Under the title field itself, not only in a notification.
    await page.locator('.ra-input-title').getByText('must not be blank').waitFor();
    await shot('save-refused-blank-title');
    await dismissNotifications();

    // --- A lost race: someone else changes the post while it is open here.
    const token = await apiToken();
    const meanwhile = await fetch(`${api}/posts/${postId}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ body: `changed meanwhile by another client at ${Date.now()}` }),
    });
    assert.equal(meanwhile.status, 200);
    const edited = `Edited in the console ${Date.now()}`;
    await title.fill(edited);
    await page.getByRole('button', { name: 'Save' }).click();
    await notified(/changed this record meanwhile/);
    await shot('save-refused-changed-meanwhile');
    await dismissNotifications();

    // --- Reload and save: it goes through.
    await page.reload();
    await title.waitFor();
    await page.waitForFunction(() => document.querySelector('textarea[name="body"]')?.value.startsWith('changed meanwhile'));
    await title.fill(edited);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL(/#\/posts\/\d+\/show/);
    await page.getByText(edited).first().waitFor();
    await shot('post-saved');

    // --- Add a comment under it, then delete it.
    await page.getByTestId('add-comment').click();
    await page.locator('input[name="name"]').waitFor();
    const commentName = `console comment ${Date.now()}`;
    await page.locator('input[name="name"]').fill(commentName);
    await page.locator('input[name="email"]').fill('someone@example.com');
    await page.locator('textarea[name="body"]').first().fill('Added from the console, then deleted.');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL(new RegExp(`#/posts/${postId}/show`));
    const commentRow = page.locator('tr', { hasText: commentName });
    await commentRow.waitFor();
    await shot('comment-added');
    await commentRow.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await commentRow.waitFor({ state: 'detached' });
    await shot('comment-deleted');

    // --- The sync, from the dashboard: run it, watch it, see the post synced.
    await page.goto(`${api}/admin/#/sync`);
    await page.getByTestId('pending').filter({ hasText: /^\d+\+?$/ }).waitFor();
    const deadline = Date.now() + 90_000;
    let synced = false;
    while (!synced && Date.now() < deadline) {
        await page.getByTestId('run-sync').click({ timeout: 90_000 });
        await page.getByTestId('sync-progress').waitFor({ timeout: 5_000 }).catch(() => {});
        await page.getByTestId('run-sync').filter({ hasText: 'Run sync now' }).waitFor({ timeout: 60_000 });
        const state = await (
            await fetch(`${api}/sync/entities/posts/${postId}`, { headers: { authorization: `Bearer ${token}` } })
        ).json();
        synced = state.status === 'synced' && !state.pending;
        if (!synced) await new Promise((r) => setTimeout(r, 2_000));
    }
    assert.ok(synced, 'the post is synced after the dashboard ran the sync');
    await page.getByTestId('last-run').waitFor();
    await shot('sync-dashboard');

    await page.goto(`${api}/admin/#/posts/${postId}/show`);
    await page.getByTestId('sync-status').filter({ hasText: 'synced' }).waitFor();
    const remoteText = await page.getByTestId('remote-id').innerText();
    const remoteId = Number(remoteText.match(/remote id (\d+)/)[1]);
    await shot('post-synced');

    // --- The remote holds the edit, and never got the comment that came and went.
    const onRemote = await (await fetch(`${remote}/posts/${remoteId}`)).json();
    assert.equal(onRemote.title, edited, 'the remote holds the edit');
    const ghosts = await (await fetch(`${remote}/comments?name=${encodeURIComponent(commentName)}`)).json();
    assert.deepEqual(ghosts, [], 'the deleted comment is not on the remote');
    console.log(`  ok  the remote's post ${remoteId} has the console's title`);

    // --- A phone-sized screen: the same list, react-admin's responsive layout.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${api}/admin/#/posts?filter=%7B%7D&sort=id&order=ASC&page=1`);
    await page.getByText(edited).first().waitFor();
    await shot('phone-posts-list');

    assert.deepEqual(consoleErrors, [], 'no script error in the page');
    console.log(`console e2e: ${step} steps passed; screenshots in ${out}`);
} catch (error) {
    await shot('FAILED').catch(() => {});
    console.error(`console e2e failed at step ${step + 1}:`, error);
    process.exitCode = 1;
} finally {
    await browser.close();
}
