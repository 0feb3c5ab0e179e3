#!/usr/bin/python3
"""A simulated IP camera: a real RTSP server (GStreamer's gst-rtsp-server).

Run with Debian's Python (it needs python3-gi, gir1.2-gst-rtsp-server-1.0 and
the GStreamer good/ugly plugins, which scripts/install-system-deps.sh installs):

    /usr/bin/python3 scripts/rtsp-camera.py --port 8554 \\
        --mount stacks=/tmp/stacks.h264 --mount lobby=test:1280x720@15

Each ``--mount NAME=SOURCE`` serves rtsp://HOST:PORT/NAME. SOURCE is either

* a file of H.264 in Annex-B byte-stream form, served in a loop at its own
  frame rate (``--fps``) without re-encoding, so a simulated camera costs
  almost no CPU. ``python -m gateway.media.simloop`` writes such a file with
  the scene the tests and the demo use (a bookshelf with readable titles, a
  public computer screen, a clock and a patron walking by); or
* ``test[:WxH@FPS]``: GStreamer's moving test pattern encoded live with
  x264enc (costs an encoder per camera);
* ``vp8`` (a codec other than H.264/H.265) or ``audio-only`` (no video
  track): streams the gateway must refuse with a clear reason.

``--audio`` adds an Opus audio track to every mount (the gateway must drop it).
``--user``/``--password`` require RTSP basic authentication. The process
prints ``ready rtsp://HOST:PORT/`` on stdout once it serves, and stops cleanly
on SIGTERM or SIGINT (exit status 0). Every client shares one pipeline per
mount, as a camera's encoder does.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def launch_line(source: str, fps: int, audio: bool) -> str:
    if source == "vp8":  # a video codec the gateway does not take
        return ("( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,"
                f"framerate={fps}/1 ! vp8enc deadline=1 ! rtpvp8pay name=pay0 pt=96 )")
    if source == "audio-only":  # a stream with no video track
        return ("( audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=48000 ! opusenc ! "
                "rtpopuspay name=pay0 pt=97 )")
    if source.startswith("test"):
        size, rate = "640x360", fps
        if ":" in source:
            spec = source.split(":", 1)[1]
            size, _, r = spec.partition("@")
            rate = int(r) if r else fps
        w, h = (int(v) for v in size.split("x"))
        video = (f"videotestsrc is-live=true pattern=ball motion=sweep ! "
                 f"video/x-raw,width={w},height={h},framerate={rate}/1 ! "
                 f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={rate} "
                 f"bframes=0 ! video/x-h264,profile=baseline ! "
                 f"rtph264pay name=pay0 pt=96 config-interval=-1")
    else:
        # Access units are pushed by a timer (``Feeder``) and stamped with
        # the pipeline's running time as they go in: a live source.
        video = (f"appsrc name=loop is-live=true do-timestamp=true format=time "
                 f"caps=video/x-h264,stream-format=byte-stream,alignment=au,framerate={fps}/1 ! "
                 f"h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1")
    if audio:
        video += (" audiotestsrc is-live=true wave=sine freq=440 ! audio/x-raw,rate=48000 ! "
                  "opusenc ! rtpopuspay name=pay1 pt=97")
    return f"( {video} )"


def access_units(data: bytes) -> list[bytes]:
    """Split an Annex-B H.264 stream into access units (one coded picture each).

    A new unit starts at an AUD, SPS, PPS or SEI that follows a slice, or at a
    slice whose first_mb_in_slice is 0 (the top bit of its header is 1).
    """
    starts = [m.start() for m in re.finditer(b"\x00\x00\x01", data)]
    nals = []
    for i, s in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(data)
        begin = s - 1 if s > 0 and data[s - 1] == 0 else s
        nals.append((begin, end, data[s + 3] & 0x1F, data[s + 4] if s + 4 < len(data) else 0))
    units, cur_start, has_slice = [], None, False
    for begin, end, kind, first in nals:
        new = has_slice and (kind in (6, 7, 8, 9) or (kind in (1, 5) and first & 0x80))
        if cur_start is None:
            cur_start = begin
        elif new:
            units.append(data[cur_start:begin])
            cur_start, has_slice = begin, False
        if kind in (1, 5):
            has_slice = True
        last_end = end
    if cur_start is not None:
        units.append(data[cur_start:last_end])
    return units


class Feeder:
    """Pushes a file's access units into a media's appsrc at ``fps``, in a loop."""

    def __init__(self, appsrc, units: list[bytes], fps: int) -> None:
        self.appsrc, self.units, self.i = appsrc, units, 0
        self.timer = GLib.timeout_add(max(1, round(1000 / fps)), self.push)

    def push(self) -> bool:
        unit = self.units[self.i % len(self.units)]
        self.i += 1
        return self.appsrc.emit("push-buffer", Gst.Buffer.new_wrapped(unit)) == Gst.FlowReturn.OK \
            or self.i < 3  # keep trying while the pipeline starts up

    def stop(self, *_args) -> None:
        if self.timer:
            GLib.source_remove(self.timer)
            self.timer = 0


_FEEDERS: dict[int, Feeder] = {}


def _start_feeder(_factory, media, units: list[bytes], fps: int) -> None:
    appsrc = media.get_element().get_by_name("loop")
    feeder = Feeder(appsrc, units, fps)
    _FEEDERS[id(media)] = feeder

    def unprepared(_media) -> None:
        _FEEDERS.pop(id(media), feeder).stop()
    media.connect("unprepared", unprepared)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--mount", action="append", required=True, metavar="NAME=SOURCE")
    parser.add_argument("--fps", type=int, default=15, help="frame rate of looped files")
    parser.add_argument("--audio", action="store_true", help="add an audio track")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for spec in args.mount:
        name, sep, source = spec.partition("=")
        if not sep or not name or not source:
            parser.error(f"--mount wants NAME=SOURCE, got {spec!r}")
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch_line(source, args.fps, args.audio))
        if not source.startswith("test") and source not in ("vp8", "audio-only"):
            with open(source, "rb") as fh:
                units = access_units(fh.read())
            if not units:
                parser.error(f"{source}: no H.264 access units found")
            factory.connect("media-configure", _start_feeder, units, args.fps)
        factory.set_shared(True)
        # A camera keeps encoding when a viewer leaves; a new viewer joins the
        # running stream (and waits for its next keyframe).
        factory.set_suspend_mode(GstRtspServer.RTSPSuspendMode.NONE)
        if args.user:
            perms = GstRtspServer.RTSPPermissions()
            perms.add_permission_for_role("camera-user", "media.factory.access", True)
            perms.add_permission_for_role("camera-user", "media.factory.construct", True)
            factory.set_permissions(perms)
        mounts.add_factory(f"/{name}", factory)
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "camera-user")
        basic = GstRtspServer.RTSPAuth.make_basic(args.user, args.password or "")
        auth.add_basic(basic, token)
        server.set_auth(auth)

    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print(f"cannot listen on {args.host}:{args.port}", file=sys.stderr, flush=True)
        return 1
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, loop.quit)
    print(f"ready rtsp://{args.host}:{server.get_bound_port()}/", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
