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
