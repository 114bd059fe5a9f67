/**
 * The demo's people panel and chat (issue 23 items 1, 2 and 6): three tabs in a conference
 * and a viewer who only watches; everyone is listed (the viewer as "watching"), a chat
 * message typed in one tab shows in the others under the sender's name, and a leaving tab
 * drops out of the lists; a muted mic shows on its tile in every tab. Saves a screenshot
 * under test-results/.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { joinDemo, waitPlaying } from './demo.js';
import { serverAndBrowser, waitFor } from './harness.js';

const people = (page: Page) => page.locator('#people li').allTextContents();
const chat = (page: Page) => page.locator('#chat li').allTextContents();

describe('demo: people and chat', () => {
  const ctx = serverAndBrowser();

  it('lists everyone (a viewer as watching), carries chat between tabs, drops a tab that leaves', async () => {
    const room = 'people-chat';
    const ann = await joinDemo(ctx.browser, ctx.server, { room, name: 'ann', mode: 'conference' });
    const ben = await joinDemo(ctx.browser, ctx.server, { room, name: 'ben', mode: 'conference' });
    const cy = await joinDemo(ctx.browser, ctx.server, { room, name: 'cy', mode: 'conference' });
    const viewer = await joinDemo(ctx.browser, ctx.server, { room, name: 'vic', mode: 'watch' });
    await waitPlaying(ann, 'ben');
    for (const page of [ann, ben, cy, viewer]) {
      await waitFor('four people listed', async () => (await people(page)).length === 4, 10_000);
    }
    assert.deepEqual(await people(ann), ['ann (you)', 'ben', 'cy', 'vic · watching']);
    assert.equal(await ann.locator('#people-count').textContent(), '4');

    await ben.locator('#chat-input').fill('hello from ben');
    await ben.locator('#chat-form button').click();
    for (const page of [ann, cy, viewer])
      await waitFor('the message shows', async () => (await chat(page)).includes('ben: hello from ben'), 5000);
    assert.deepEqual(await chat(ben), ['you: hello from ben']);
    await viewer.locator('#chat-input').fill('a viewer can chat too');
    await viewer.locator('#chat-input').press('Enter');
    await waitFor('the viewer’s message', async () => (await chat(ann)).includes('vic: a viewer can chat too'), 5000);

    // ben mutes his mic: his tile shows it in the other tabs (the server says so), and in his own
    await ben.getByRole('button', { name: 'Mute mic' }).click();
    const benTile = (page: Page) => page.locator('figure.tile[data-user="ben"]');
    for (const page of [ann, cy, viewer])
      await waitFor('ben shows muted', async () => (await benTile(page).getAttribute('data-muted-audio')) === 'true', 5000);
    assert.equal(await ben.locator('figure[data-peer="local-camera"]').getAttribute('data-muted-audio'), 'true');

    mkdirSync('test-results', { recursive: true });
    await ann.screenshot({ path: 'test-results/demo-people-chat.png' });

    await cy.getByRole('button', { name: 'Leave' }).click();
    await waitFor('cy drops out', async () => !(await people(ann)).includes('cy'), 5000);
    assert.deepEqual(await people(ben), ['ann', 'ben (you)', 'vic · watching']);
    await ben.getByRole('button', { name: 'Unmute mic' }).click();
    await waitFor('ben unmuted', async () => (await benTile(ann).getAttribute('data-muted-audio')) === null, 5000);
    await Promise.all([ann, ben, cy, viewer].map((p) => p.close()));
  });
});
