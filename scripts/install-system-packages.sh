#!/bin/sh
# Usage: install-system-packages.sh LIST STAMP [PACKAGE...]
# As root on Debian/Ubuntu: install with apt-get the packages of LIST (system-packages.txt),
# or only the PACKAGEs named, whose commands are all missing (for an entry with a slash: whose
# file is missing), then touch STAMP, so that make asks again only when LIST changes.
# Anyone else: do nothing (the tests needing a missing package are skipped).
set -eu
list=$1 stamp=$2
shift 2
[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || exit 0

missing=""
while read -r package commands _; do
    case $package in '' | '#'*) continue ;; esac
    if [ $# -gt 0 ]; then
        case " $* " in *" $package "*) ;; *) continue ;; esac
    fi
    found=""
    for command in $(echo "$commands" | tr , ' '); do
        case $command in
            */*) [ -e "$command" ] && found=yes ;;
            *) command -v "$command" >/dev/null 2>&1 && found=yes ;;
        esac
    done
    [ -n "$found" ] || missing="$missing $package"
done <"$list"

if [ -n "$missing" ]; then
    echo "Installing the system packages the course and its tests need:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # One at a time: a package this distribution lacks leaves the others installed
    # (its tests are then skipped, naming it).
    for package in $missing; do
        apt-get install -y -qq -o Dpkg::Use-Pty=0 "$package" >/dev/null ||
            echo "Could not install $package: the tests that need it will be skipped." >&2
    done
fi
touch "$stamp"
