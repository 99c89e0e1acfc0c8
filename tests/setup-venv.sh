#!/usr/bin/env bash
# Creates the Python virtual environment holding the reference implementations
# (transformers, tokenizers, gguf, peft, huggingface_hub, PIL) over Debian's
# python3-torch, so no multi-GB CUDA wheels are pulled.  Idempotent.
set -eu
venv=${1:-.venv}
[ -f "$venv/.ready" ] && exit 0
py=/usr/bin/python3
"$py" -m venv --system-site-packages "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r tests/requirements.txt
"$venv/bin/python" -c 'import torch, transformers, tokenizers, gguf, PIL, peft, huggingface_hub' 
touch "$venv/.ready"
