#!/usr/bin/env bash
# Installs the Debian packages tvl needs (SPEC §2) when any is missing; a ready machine pays
# nothing. As root it runs apt-get itself; otherwise it prints the exact command and fails.
set -euo pipefail

packages=(
  g++ cmake ninja-build make git        # compiler and build
  libboost1.81-dev                      # Boost.Asio with experimental channels (not libboost-dev: 1.74)
  libtbb-dev                            # oneTBB
  libbenchmark-dev libgtest-dev         # harness and unit tests
  libcli11-dev libfmt-dev nlohmann-json3-dev
  python3-matplotlib                    # plots, under /usr/bin/python3
  redis-server                          # the fan-out scenario's reference broker (started by the harness)
  python3-uvloop                        # the Python peer on uvloop (tvl capacity --model python-uvloop)
  chromium chromium-driver python3-selenium  # the report opened in a real (headless) browser
  clang-14 libclang-rt-14-dev           # libFuzzer targets for the parsers (make fuzz)
  iproute2                              # ip netns, tc: the two-namespace test
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "tvl: these Debian packages are missing: ${missing[*]}" >&2
  echo "tvl: install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "tvl: installing missing Debian packages: ${missing[*]}"
# A fresh machine's package lists may be empty or stale: update first.
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
