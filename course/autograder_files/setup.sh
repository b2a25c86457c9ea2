#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu; choose a base
# image with Python 3.10 or newer, e.g. Ubuntu 22.04 or 24.04). It installs what grading imports
# (requirements.txt beside it: torch for the CPU, numpy, tqdm, einops, pytest) into a virtual
# environment, /autograder/venv, which run_autograder uses. Student code later runs as `nobody`.
set -euo pipefail
apt-get update
apt-get install -y python3 python3-venv python3-pip
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --upgrade pip
# torch's CPU wheel from PyTorch's own index (no CUDA libraries: a smaller install, less memory).
/autograder/venv/bin/pip install --index-url https://download.pytorch.org/whl/cpu torch==2.14.1
/autograder/venv/bin/pip install -r /autograder/source/requirements.txt
chmod -R a+rX /autograder/venv
