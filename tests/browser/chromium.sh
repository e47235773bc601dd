#!/bin/sh
# The browser tests drive Debian's Chromium (Playwright's own browser download does not work
# here). Install it when it is missing and we are root; otherwise say how.
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ] || command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's chromium for the browser tests (apt-get)"
    apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium
    exit $?
fi
cat >&2 <<'MESSAGE'
The browser tests (tests/browser) need Chromium, which is not installed. Install it with
    sudo apt-get install --no-install-recommends chromium
(Debian or Ubuntu), or point CHROMIUM_PATH at a Chromium or Chrome binary, then run make test again.
MESSAGE
exit 1
