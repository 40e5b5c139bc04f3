# SPDX-License-Identifier: MIT
"""What the Linux benchmarks share: the test guest made under BUILD_DIR/linux."""
import os
import subprocess
import sys


def prepare(build, who):
    """BUILD_DIR/linux with vmlinuz and initramfs.cpio.gz (scripts/mkinitramfs.sh), or exit."""
    work = os.path.join(build, "linux")
    os.makedirs(work, exist_ok=True)
    if subprocess.run(["scripts/mkinitramfs.sh", work]).returncode:
        sys.exit(f"{who}: no kernel or busybox-static (scripts/mkinitramfs.sh said why)")
    return work
