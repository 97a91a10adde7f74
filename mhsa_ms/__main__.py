"""``python -m mhsa_ms [--device auto|Ascend|GPU|CPU]``: print MindSpore's version, the device and the backends."""
import argparse
import sys

from .device import device_info, use_device
from .i18n import gettext as _


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m mhsa_ms", description=__doc__)
    parser.add_argument("--device", default="auto", help="auto (default), Ascend, GPU or CPU")
    args = parser.parse_args(argv)
    device = use_device(args.device)
    info = device_info()
    print(_("MindSpore version : {version}").format(version=info["mindspore"]))
    print(_("chosen device     : {device}").format(device=device))
    print(_("available backends: {backends}").format(backends=", ".join(info["backends"])))
    print(_("mode              : {mode}").format(mode=info["mode"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
