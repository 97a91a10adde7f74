"""The ``mhsa-ms`` command line."""
import argparse
import sys


def _info(args):
    from .device import device_info, use_device

    device = use_device(args.device)
    info = device_info()
    print(f"MindSpore version : {info['mindspore']}")
    print(f"chosen device     : {device}")
    print(f"available backends: {', '.join(info['backends'])}")
    print(f"mode              : {info['mode']}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="mhsa-ms", description="Multi-head self-attention course tools")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="print MindSpore version, device, backends and mode")
    info.add_argument("--device", default="auto", help="auto (default), Ascend, GPU or CPU")
    info.set_defaults(handler=_info)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
