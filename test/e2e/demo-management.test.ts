import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { joinDemo, joinIn, tiles, waitPlaying } from './demo.js';
import { serverAndBrowser, waitFor } from './harness.js';

const text = async (page: Page, selector: string) => ((await page.locator(selector).textContent()) ?? '').trim();

describe('demo site: management page with --auth', () => {
  const ctx = serverAndBrowser(['--auth']);

  it('shows validation errors, sets a token that then gates a join, lists the room', async () => {
    await mkdir('test-results', { recursive: true });
    const m = await ctx.browser.newPage();
    await m.goto(`${ctx.server.publicUrl}/management.html`);
    const tokenForm = m.getByRole('form', { name: 'Set a token' });

    // a bad room is refused by the server, and the page shows its reason
    await tokenForm.getByLabel('Room', { exact: true }).fill('bad.room');
    await tokenForm.getByLabel('User id', { exact: true }).fill('carol');
    await tokenForm.getByLabel('Token', { exact: true }).fill('s3cret');
    await tokenForm.getByRole('button', { name: 'Set token' }).click();
    await waitFor('validation error shown', async () => /400: .*room/.test(await text(m, '#token-error')));

    // set carol's publisher and subscriber token
    await tokenForm.getByLabel('Role', { exact: true }).selectOption('both');
    await tokenForm.getByLabel('Room', { exact: true }).fill('gated');
    await tokenForm.getByRole('button', { name: 'Set token' }).click();
    await waitFor('token set', async () => (await text(m, '#token-result')).startsWith('token set'));
    assert.equal(await text(m, '#token-error'), '');

    // the demo refuses carol without the token and with a wrong one, with the server's reason
    const carol = await joinDemo(ctx.browser, ctx.server, { room: 'gated', name: 'carol', expectJoined: false });
    await waitFor('refused without token', async () => /could not join: .*401: missing bearer token/.test(await text(carol, '#status')));
    await joinIn(carol, { room: 'gated', name: 'carol', token: 'wrong', expectJoined: false });
    await waitFor('refused with a wrong token', async () => /could not join: .*401: bad token/.test(await text(carol, '#status')));
    assert.deepEqual(await ctx.server.list('pub', 'gated'), [], 'a refused join leaves nothing behind');
    assert.deepEqual(await ctx.server.list('sub', 'gated'), []);

    // with the token carol joins; dave has no token set, so he is let in without one
    await joinIn(carol, { room: 'gated', name: 'carol', token: 's3cret' });
    const dave = await joinDemo(ctx.browser, ctx.server, { room: 'gated', name: 'dave' });
    await waitPlaying(carol, 'dave');
    await waitPlaying(dave, 'carol');
    // carol's screen share publishes under her token too
    await carol.getByRole('button', { name: 'Share screen' }).click();
    await waitPlaying(dave, 'carol', 'screen');

    // the management page lists the room
    const listForm = m.getByRole('form', { name: 'Room members' });
    await listForm.getByLabel('Room', { exact: true }).fill('gated');
    await listForm.getByRole('button', { name: 'List' }).click();
    const names = async (list: string) =>
      (await m.getByRole('list', { name: list }).locator('li').allTextContents()).map((x) => x.split('+')[0]).sort();
    await waitFor('room listed', async () => (await names('Publishers')).length === 3);
    assert.deepEqual(await names('Publishers'), ['carol', 'carol-screen', 'dave']);
    assert.deepEqual(await names('Subscribers'), ['carol', 'dave']);
    await m.screenshot({ path: 'test-results/demo-management.png', fullPage: true });

    // a bad room in the list form shows the server's reason too
    await listForm.getByLabel('Room', { exact: true }).fill('a>b');
    await listForm.getByRole('button', { name: 'List' }).click();
    await waitFor('list validation error shown', async () => /400: /.test(await text(m, '#list-error')));
    assert.equal((await tiles(dave)).filter((t) => t.user === 'carol').length, 2, 'carol’s camera and screen on dave’s page');
    await Promise.all([m.close(), carol.close(), dave.close()]);
  });
});
