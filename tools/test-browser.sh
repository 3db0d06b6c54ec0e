#!/bin/sh
# Make sure the system programs some tests drive are present: Debian's chromium
# and chromedriver (the console's browser tests) and Xvfb (the VR output's
# error test). Installed with apt-get when run as root on Debian/Ubuntu;
# otherwise the tests that need them are skipped, each saying why.
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v chromedriver >/dev/null 2>&1 || missing="$missing chromium-driver"
command -v Xvfb >/dev/null 2>&1 || missing="$missing xvfb"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages for the browser and VR tests:$missing"
    if apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
        exit 0
    fi
    echo "note: could not install$missing; the tests that need them will be skipped"
else
    echo "note:$missing not found (install them with apt-get as root);" \
         "the tests that need them will be skipped"
fi
exit 0
