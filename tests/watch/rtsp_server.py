#!/usr/bin/python3
"""A real RTSP server on loopback for the watch tests and the watch benchmark (GStreamer's
gst-rtsp-server through PyGObject, Debian packages gir1.2-gst-rtsp-server-1.0 and python3-gi).

  rtsp_server.py --port 8554 --mount /door=clip.mp4 [--mount /yard=other.mp4]

Each mount serves an H.264 MP4 file once, in real time (the pipeline is clocked), to each client
that connects (not shared: every client gets the file from its start), over RTP/RTCP on TCP or
UDP as the client asks. Prints "ready <port>" on stdout once it listens; runs until killed.
"""
import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mount", action="append", required=True, help="/PATH=FILE.mp4 (H.264 video)")
    args = ap.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for m in args.mount:
        path, sep, media = m.partition("=")
        if not sep or not path.startswith("/") or not os.path.isfile(media):
            sys.exit("rtsp_server.py: --mount %r: expected /PATH=EXISTING_FILE.mp4" % m)
        factory = GstRtspServer.RTSPMediaFactory()
        location = media.replace("\\", "\\\\").replace('"', '\\"')
        factory.set_launch(
            '( filesrc location="%s" ! qtdemux ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=1 )'
            % location)
        factory.set_shared(False)
        mounts.add_factory(path, factory)
    if server.attach(None) == 0:
        sys.exit("rtsp_server.py: cannot listen on 127.0.0.1:%d" % args.port)
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    print("ready %d" % args.port, flush=True)
    loop.run()


if __name__ == "__main__":
    main()
