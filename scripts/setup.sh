#!/usr/bin/env bash
# Set up a development checkout: a .venv with longcolbert, its LangChain and LlamaIndex
# integrations and the test tools, plus the Debian documentation packages the tests
# and benchmarks read and chromium for the browser test (when apt is there, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-doc texlive-latex-base-doc chromium >/dev/null
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]" \
    -e integrations/langchain \
    -e integrations/llama-index-retrievers \
    -e integrations/llama-index-postprocessor
# A second environment with the oldest torch longcolbert supports, installed first as
# a user's app would have it, then longcolbert naming that torch (README, "Install");
# tests/test_torch_range.py searches in it.
python3 -m venv .venv-torch2.7
.venv-torch2.7/bin/python -m pip install -q --upgrade pip
.venv-torch2.7/bin/python -m pip install -q "torch==2.7.0"
.venv-torch2.7/bin/python -m pip install -q -e . "torch==2.7.0"
