#!/usr/bin/env bash
# Creates the Python virtual environment holding the reference implementations
# (transformers, tokenizers, gguf, peft, huggingface_hub, PIL) over Debian's
# python3-torch, so no multi-GB CUDA wheels are pulled.  Idempotent.
set -eu
venv=${1:-.venv}
# .ready holds the hash of the requirement lists it was made from: a changed
# list updates an existing venv.
stamp=$(cat tests/requirements.txt tests/requirements-nodeps.txt | sha256sum | cut -d' ' -f1)
[ -f "$venv/.ready" ] && [ "$(cat "$venv/.ready")" = "$stamp" ] && exit 0
py=/usr/bin/python3
[ -x "$venv/bin/python" ] || "$py" -m venv --system-site-packages "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r tests/requirements.txt
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps -r tests/requirements-nodeps.txt
# The references must run on Debian's torch: a PyPI torch here means a
# dependency pulled it (gigabytes of CUDA wheels) and the pins need fixing.
"$venv/bin/python" -c 'import torch, sys; sys.exit(0 if torch.__file__.startswith("/usr/lib/") else "setup-venv: a PyPI torch was installed into the venv; fix tests/requirements*.txt")'
"$venv/bin/python" -c 'import torch, transformers, tokenizers, gguf, PIL, peft, huggingface_hub' 
echo "$stamp" > "$venv/.ready"
