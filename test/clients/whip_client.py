#!/usr/bin/python3
"""A WHIP publisher (RFC 9725) on GStreamer's webrtcbin: test sources, no data channel,
non-trickle (the offer is POSTed once ICE gathering is complete).

Used by the e2e tests as a real, independent WebRTC stack. Prints one JSON object per
line on stdout ({"event": ...}); stops by itself after --duration seconds (or on
SIGTERM/SIGINT), sending DELETE to the session URL first.

    /usr/bin/python3 test/clients/whip_client.py --url http://127.0.0.1:8443/pub/room/gst+1 \
        [--token T] [--video vp8|h264|none] [--no-audio] [--duration 60]
"""
import argparse
import json
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

VIDEO = {
    "vp8": "vp8enc deadline=1 cpu-used=8 keyframe-max-dist=30 target-bitrate=300000 ! rtpvp8pay pt={pt} ! "
    "application/x-rtp,media=video,encoding-name=VP8,payload={pt},clock-rate=90000",
    # What OBS sends by default: H264 Constrained Baseline, packetization-mode=1.
    "h264": "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bitrate=300 ! "
    "video/x-h264,profile=constrained-baseline,level=(string)3.1 ! h264parse ! rtph264pay config-interval=-1 pt={pt} aggregate-mode=zero-latency ! "
    "application/x-rtp,media=video,encoding-name=H264,payload={pt},clock-rate=90000,"
    "packetization-mode=(string)1",
}
AUDIO = (
    "audiotestsrc is-live=true wave=sine freq=440 ! audioconvert ! audioresample ! opusenc ! rtpopuspay pt={pt} ! "
    "application/x-rtp,media=audio,encoding-name=OPUS,payload={pt},clock-rate=48000 ! wb."
)


def say(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


class WhipClient:
    def __init__(self, args):
        self.args = args
        self.location = None
        self.loop = GLib.MainLoop()
        parts = ["webrtcbin name=wb bundle-policy=max-bundle"]
        if args.video != "none":
            parts.append(
                "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=15/1 ! "
                f"videoconvert ! queue ! {VIDEO[args.video].format(pt=args.video_pt)} ! wb."
            )
        if args.audio:
            parts.append(AUDIO.format(pt=args.audio_pt))
        self.pipe = Gst.parse_launch(" ".join(parts))
        self.wb = self.pipe.get_by_name("wb")
        self.wb.connect("on-negotiation-needed", self.on_negotiation_needed)
        self.wb.connect("notify::ice-gathering-state", self.on_gathering)
        self.wb.connect("notify::ice-connection-state", self.on_ice_state)
        bus = self.pipe.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self.on_error)

    def start(self):
        self.pipe.set_state(Gst.State.PLAYING)
        # WHIP publishes only: every transceiver sends.
        for i in range(8):
            t = self.wb.emit("get-transceiver", i)
            if t is None:
                break
            t.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
        GLib.timeout_add_seconds(self.args.duration, self.stop)
        self.loop.run()

    def on_negotiation_needed(self, _wb):
        promise = Gst.Promise.new_with_change_func(self.on_offer, None)
        self.wb.emit("create-offer", None, promise)

    def on_offer(self, promise, _data):
        reply = promise.get_reply()
        offer = reply.get_value("offer")
        self.wb.emit("set-local-description", offer, Gst.Promise.new())

    def on_gathering(self, wb, _pspec):
        if wb.get_property("ice-gathering-state") == GstWebRTC.WebRTCICEGatheringState.COMPLETE and self.location is None:
            GLib.idle_add(self.post_offer)

    def post_offer(self):
        sdp = self.wb.get_property("local-description").sdp.as_text()
        headers = {"Content-Type": "application/sdp"}
        if self.args.token:
            headers["Authorization"] = f"Bearer {self.args.token}"
        req = urllib.request.Request(self.args.url, data=sdp.encode(), headers=headers, method="POST")
        t0 = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                answer = r.read().decode()
                self.location = urllib.parse.urljoin(self.args.url, r.headers["Location"])
                say(
                    "created",
                    status=r.status,
                    location=self.location,
                    etag=r.headers.get("ETag"),
                    ms=round((time.monotonic() - t0) * 1000),
                )
        except urllib.error.HTTPError as e:
            say("refused", status=e.code, reason=e.read().decode().strip())
            self.quit(1)
            return False
        ok, msg = GstSdp.SDPMessage.new_from_text(answer)
        desc = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, msg)
        self.wb.emit("set-remote-description", desc, Gst.Promise.new())
        return False

    def on_ice_state(self, wb, _pspec):
        state = wb.get_property("ice-connection-state")
        say("ice", state=state.value_nick)

    def on_error(self, _bus, msg):
        err, debug = msg.parse_error()
        say("error", message=str(err), debug=str(debug)[:300])
        self.quit(1)

    def stop(self):
        if self.location:
            try:
                req = urllib.request.Request(self.location, method="DELETE")
                with urllib.request.urlopen(req, timeout=5) as r:
                    say("deleted", status=r.status)
            except Exception as e:  # the server may be gone already
                say("delete-failed", reason=str(e))
        self.quit(0)
        return False

    def quit(self, code):
        self.code = code
        self.pipe.set_state(Gst.State.NULL)
        self.loop.quit()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--token")
    p.add_argument("--video", choices=["vp8", "h264", "none"], default="vp8")
    p.add_argument("--no-audio", dest="audio", action="store_false")
    # Payload types differ between real clients; the server must not assume Chromium's.
    p.add_argument("--video-pt", type=int, default=96)
    p.add_argument("--audio-pt", type=int, default=111)
    p.add_argument("--duration", type=int, default=60)
    args = p.parse_args()
    Gst.init(None)
    client = WhipClient(args)
    client.code = 0
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, client.stop)
    client.start()
    sys.exit(client.code)


if __name__ == "__main__":
    main()
