#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu; choose a base
# image with Python 3.10 or newer, e.g. Ubuntu 22.04 or 24.04). It installs the project's
# requirements.txt (torch==2.14.1, torchvision==0.29.1 and the rest, pinned as in the project) into
# a virtual environment, /autograder/venv, which run_autograder uses.
set -euo pipefail
apt-get update
apt-get install -y python3 python3-venv python3-pip
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --upgrade pip
# The graders have no GPU: torch's CPU wheels are a fraction of the CUDA ones' size (same versions).
/autograder/venv/bin/pip install --extra-index-url https://download.pytorch.org/whl/cpu \
    -r /autograder/source/requirements.txt
