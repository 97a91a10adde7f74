"""``python -m mhsa_ms [--device auto|Ascend|GPU|CPU]``: print MindSpore's version, the device and the backends."""
import argparse
import sys

from .device import device_info, use_device


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m mhsa_ms", description=__doc__)
    parser.add_argument("--device", default="auto", help="auto (default), Ascend, GPU or CPU")
    args = parser.parse_args(argv)
    device = use_device(args.device)
    info = device_info()
    print(f"MindSpore version : {info['mindspore']}")
    print(f"chosen device     : {device}")
    print(f"available backends: {', '.join(info['backends'])}")
    print(f"mode              : {info['mode']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
