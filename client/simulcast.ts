/**
 * Camera simulcast as SSRCs (`a=ssrc-group:SIM`), not RIDs: the server's engine maps RTP
 * to a track only by the SSRCs the offer lists, and drops RTP of unlisted SSRCs (which is
 * what RID-only simulcast sends) on a connection with more than one track. Chromium still
 * honours an offer given a SIM group before `setLocalDescription`: it then encodes one
 * stream per SSRC, the first the smallest (¼, ½, full size; fewer layers for small
 * captures). docs/design.md, "Simulcast", has the measurements behind the choice.
 */

/** Layers a camera is sent in, at most. */
export const SIMULCAST_LAYERS = 3;

/**
 * How many layers a capture of `width`×`height` is sent in: Chromium encodes at most 3
 * from 960×540 up, 2 from 480×270 up (a 640×480 camera), 1 below, and when given more it
 * drops the LARGEST ones (measured: a 640×480 camera in 3 layers sent only 160 and 320
 * wide). So the SDK asks for what will be sent.
 */
export function layersFor(width: number, height: number): number {
  const pixels = width * height;
  if (pixels >= 960 * 540) return 3;
  if (pixels >= 480 * 270) return 2;
  return 1;
}

/**
 * `sdp` with the sending video m-sections of the given mids (all when omitted) turned into
 * `layers` SSRC-simulcast layers, each with its RTX SSRC when the section has RTX. A
 * section that already has a SIM group, or no SSRC of its own, is left as it is, so the
 * function can be applied to every offer of a connection.
 */
export function simulcastOffer(sdp: string, layers = SIMULCAST_LAYERS, mids?: ReadonlySet<string>): string {
  if (layers < 2) return sdp;
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = sdp.split(eol);
  if (lines[lines.length - 1] === '') lines.pop();
  const starts: number[] = [];
  lines.forEach((l, i) => {
    if (l.startsWith('m=')) starts.push(i);
  });
  if (starts.length === 0) return sdp;
  const out = lines.slice(0, starts[0]);
  for (let k = 0; k < starts.length; k++) {
    const section = lines.slice(starts[k], starts[k + 1] ?? lines.length);
    out.push(...simulcastSection(section, layers, mids));
  }
  return out.join(eol) + eol;
}

function simulcastSection(section: string[], layers: number, mids: ReadonlySet<string> | undefined): string[] {
  if (!section[0]!.startsWith('m=video ')) return section;
  const mid = section.find((l) => l.startsWith('a=mid:'))?.slice(6);
  if (mids && (mid === undefined || !mids.has(mid))) return section;
  if (!section.some((l) => l === 'a=sendonly' || l === 'a=sendrecv')) return section;
  if (section.some((l) => l.startsWith('a=ssrc-group:SIM'))) return section;
  const ssrcLines = section.filter((l) => l.startsWith('a=ssrc:'));
  const first = ssrcLines[0];
  if (!first) return section;
  const primary = Number(/^a=ssrc:(\d+)/.exec(first)?.[1]);
  const fid = section.find((l) => l.startsWith(`a=ssrc-group:FID ${primary} `));
  const rtx = fid ? Number(fid.split(' ')[2]) : undefined;
  // the attributes (cname, msid) the primary carries, repeated for every new SSRC
  const attrs = ssrcLines.filter((l) => l.startsWith(`a=ssrc:${primary} `)).map((l) => l.slice(`a=ssrc:${primary} `.length));
  const used = new Set(ssrcLines.map((l) => Number(/^a=ssrc:(\d+)/.exec(l)?.[1])));
  const media = [primary];
  const repair = rtx === undefined ? [] : [rtx];
  while (media.length < layers) {
    media.push(freshSsrc(used));
    if (rtx !== undefined) repair.push(freshSsrc(used));
  }
  const kept = section.filter((l) => !l.startsWith('a=ssrc:') && !l.startsWith('a=ssrc-group:'));
  kept.push(`a=ssrc-group:SIM ${media.join(' ')}`);
  if (rtx !== undefined) for (let i = 0; i < layers; i++) kept.push(`a=ssrc-group:FID ${media[i]} ${repair[i]}`);
  for (let i = 0; i < layers; i++) {
    for (const s of rtx !== undefined ? [media[i]!, repair[i]!] : [media[i]!]) for (const a of attrs) kept.push(`a=ssrc:${s} ${a}`);
  }
  return kept;
}

function freshSsrc(used: Set<number>): number {
  for (;;) {
    const s = (Math.floor(Math.random() * 0xfffffffe) + 1) >>> 0;
    if (!used.has(s)) {
      used.add(s);
      return s;
    }
  }
}

/**
 * The most each layer may send, smallest first (bit/s): the full-size layer 1.5 Mbit/s,
 * each smaller one a third of the next. Without them Chromium 156 sent the ¼-size layer
 * at 300–380 kbit/s here, so a subscriber on a 400 kbit/s path could not get even that.
 */
export const LAYER_MAX_BITRATES = [150_000, 500_000, 1_500_000];

/**
 * Gives each layer of a SIM-group sender its size (¼, ½, full) and its bitrate ceiling.
 * Chromium sizes munged layers itself only for senders made by `addTrack`; a sendonly
 * transceiver's layers all come out at full size (measured with Chromium 156) unless the
 * encodings say so.
 */
export async function scaleLayers(pc: RTCPeerConnection): Promise<void> {
  for (const sender of pc.getSenders()) {
    if (sender.track?.kind !== 'video') continue;
    const params = sender.getParameters();
    const n = params.encodings.length;
    const max = (i: number) => LAYER_MAX_BITRATES[LAYER_MAX_BITRATES.length - n + i] ?? LAYER_MAX_BITRATES[0]!;
    if (n < 2 || params.encodings.every((e, i) => e.scaleResolutionDownBy === 2 ** (n - 1 - i) && e.maxBitrate === max(i))) continue;
    params.encodings.forEach((e, i) => {
      e.scaleResolutionDownBy = 2 ** (n - 1 - i);
      e.maxBitrate = max(i);
    });
    await sender.setParameters(params);
  }
}
