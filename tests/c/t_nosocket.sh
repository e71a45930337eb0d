#!/usr/bin/env bash
# Programs that never touch sockets behave the same under the shim: the
# harness runs this script natively and under the shim (LD_PRELOAD reaches
# every program it starts) and compares the digests of their outputs.
set -u
digest() { sha256sum | cut -c1-16; }
echo "ls: $(ls -la /usr/bin /etc 2>&1 | digest)"
echo "python: $(python3 -c 'import sys, os, json; print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "x": [i*i for i in range(100)]}))' a b 2>&1 | digest)"
echo "python_files: $(python3 -c '
import os, tempfile
d = tempfile.mkdtemp()
p = os.path.join(d, "f")
with open(p, "w") as f: f.write("x" * 100000)
with open(p) as f: n = len(f.read())
r, w = os.pipe(); os.write(w, b"pipe"); os.close(w); print(n, os.read(r, 10)); os.unlink(p); os.rmdir(d)' 2>&1 | digest)"
echo "sort: $(seq 1 5000 | sort -r | digest)"
echo "sh_pipeline: $(for i in $(seq 1 200); do echo line $i; done | grep 7 | wc -l)"
echo "dd: $(dd if=/dev/zero bs=64k count=16 2>/dev/null | digest)"
echo "exit_status: $(sh -c 'exit 3'; echo $?)"
