import { type TrackInfo, trackId } from 'weever-protocol';

/** `audio` audio tracks and `video` video tracks numbered from 0 (audio first, as the store returns them). */
export function tracksOf(audio: number, video: number): TrackInfo[] {
  const out: TrackInfo[] = [];
  for (let i = 0; i < audio; i++) out.push({ kind: 'audio', trackId: trackId('audio', i) });
  for (let i = 0; i < video; i++) out.push({ kind: 'video', trackId: trackId('video', i) });
  return out;
}
