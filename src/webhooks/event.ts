/**
 * What a webhook POST carries (docs/protocol.md, webhooks): one JSON object per event.
 */
import type { RoomHappening, RoomHappeningName } from '../media/room-happening.js';

export type { RoomHappening } from '../media/room-happening.js';
export type WebhookEventName = RoomHappeningName;

export interface WebhookEvent extends RoomHappening {
  /** unique per event; the same on every retry of it (receivers deduplicate on it) */
  id: string;
  /** when it happened, Unix ms */
  createdAt: number;
}
