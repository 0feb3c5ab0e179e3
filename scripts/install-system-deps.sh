#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the tests use, when missing (as root, via apt).
# ffmpeg/ffprobe: cross-checks of our output; tesseract: OCR proof that masked
# text is unreadable; promtool: alert-rule tests; chromium: browser tests;
# npm: axe-core for the accessibility test (scripts/install-js.sh);
# GStreamer RTSP server: a real RTSP camera; systemd: unit hardening analysis;
# nginx: the reverse-proxy site in deploy/nginx/.
# Ceph (mon, memstore OSD, RADOS Gateway): a real S3 server with Object Lock
# (scripts/ceph-rgw.sh, tests/s3server.py); installing starts no daemon.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have ffmpeg || need+=(ffmpeg)
have tesseract || need+=(tesseract-ocr tesseract-ocr-eng)
have promtool || need+=(prometheus)
have chromium || need+=(chromium)
have npm || need+=(npm)
have systemd-analyze || need+=(systemd)
have nginx || [ -x /usr/sbin/nginx ] || need+=(nginx)
{ have ceph-mon && have ceph-osd && have radosgw; } || need+=(ceph-mon ceph-osd radosgw)
# The simulated camera (scripts/rtsp-camera.py): rtsp-server, x264enc (ugly),
# rtph264pay (good), h264parse (bad), appsrc/opusenc (base).
dpkg -s gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly >/dev/null 2>&1 || need+=(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-ugly gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-base)
fc-list 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: missing ${need[*]}; run as root (or: sudo apt-get install ${need[*]})." >&2
  echo "install-system-deps: tests that need them will be skipped with a reason." >&2
  exit 0
fi
echo "install-system-deps: apt-get install ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${need[@]}"
if printf '%s\n' "${need[@]}" | grep -qx nginx; then
  # The tests run their own nginx, in the foreground on free ports; the package's
  # system service (listening on port 80) is not wanted on a test machine.
  { systemctl disable --now nginx || service nginx stop; } >/dev/null 2>&1 || true
fi
