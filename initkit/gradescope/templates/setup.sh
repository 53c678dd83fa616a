#!/usr/bin/env bash
# Written by `initkit gradescope` for @ASSIGNMENT@ (initkit @KIT_VERSION@). Gradescope runs it once,
# as root, while it builds the autograder image (Ubuntu 22.04), from /autograder/source, which
# holds this zip's contents. It installs Python @PYTHON@ (Ubuntu 22.04 ships 3.10; initkit needs
# 3.11 or later), bubblewrap (initkit's sandbox for student code) and initkit with its
# dependencies into @VENV@, then checks that the course in course/ can be graded.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive

python=python@PYTHON@
packages=("$python" "$python-venv" bubblewrap)
apt-get update
if ! apt-get install -y --no-install-recommends "${packages[@]}"; then
    # Not in Ubuntu's own archive (e.g. 3.12 on 22.04): the deadsnakes PPA has every version.
    apt-get install -y --no-install-recommends software-properties-common gnupg
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update
    apt-get install -y --no-install-recommends "${packages[@]}"
fi

"$python" -m venv @VENV@
@VENV@/bin/python -m pip install --no-cache-dir --upgrade pip
@VENV@/bin/python -m pip install --no-cache-dir ./@WHEEL@
# Python and initkit stay readable by everyone: the sandbox runs student code as another uid. A
# Python readable by all also means that, without bubblewrap, student code keeps no capability
# (not CAP_DAC_READ_SEARCH: docs/sandbox.md), so the chmod below keeps it out of the course.
chmod -R a+rX @VENV@
# The hidden tests and the solutions: root only (without bubblewrap, student code runs as an
# unprivileged uid and must not read them).
chmod -R go-rwx course
chmod 0755 run_autograder 2>/dev/null || true
@VENV@/bin/python -m initkit.gradescope.run --check --source "$PWD"
