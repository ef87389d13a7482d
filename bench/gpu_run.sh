#!/usr/bin/env bash
# The GPU check, on the GPU machine, from the repository root, once the staged pieces are in
# $STAGE (bench/GPU.md). Installs the wheels into /tmp/site (once per machine), points
# CTranslate2 at the host's CUDA 13 cuBLAS under the CUDA 12 names it asks for, and runs
# bench/gpu.py --device cuda with the given options; the log and JSON go to $OUT (or here).
set -euo pipefail
STAGE=${STAGE:-/tmp/stage}
DEST=${OUT:-.}
if [ ! -d /tmp/site/faster_whisper ]; then
  cat "$STAGE"/part-*.tar.part | tar x -C "$STAGE"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$STAGE"/whl/*.whl
fi
export PYTHONPATH=/tmp/site:$PWD
sites=$(python3 -c 'import site; print(" ".join(site.getsitepackages()))')
lib() { find $sites /usr/local/cuda*/ -name "$1" 2>/dev/null | head -1; }
cublas=$(lib 'libcublas.so.1[23]*'); cublaslt=$(lib 'libcublasLt.so.1[23]*'); cudnn=$(lib 'libcudnn.so.9*')
mkdir -p /tmp/cuda12
[ -n "$cublas" ] && ln -sf "$cublas" /tmp/cuda12/libcublas.so.12
[ -n "$cublaslt" ] && ln -sf "$cublaslt" /tmp/cuda12/libcublasLt.so.12
export LD_LIBRARY_PATH=/tmp/cuda12:$(dirname "${cublas:-/x}"):$(dirname "${cudnn:-/x}"):${LD_LIBRARY_PATH:-}
export HF_HUB_OFFLINE=1 PYANNOTE_METRICS_ENABLED=0 PYTHONUNBUFFERED=1
echo "cublas: ${cublas:-none}; cudnn: ${cudnn:-none}"
python3 -c 'import ctranslate2; print("ctranslate2", ctranslate2.__version__, "sees", ctranslate2.get_cuda_device_count(), "GPU(s)")'
python3 bench/gpu.py --device cuda --json "$DEST/gpu.json" "$@" 2>&1 | tee "$DEST/gpu.log"
