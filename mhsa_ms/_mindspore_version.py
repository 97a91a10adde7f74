"""The MindSpore versions this package supports, checked when ``mhsa_ms`` is imported.

The range is the one tested (unit tests and lessons on the oldest and the newest release of it);
``pyproject.toml`` and ``requirements.txt`` declare the same, so installing the course next to a
MindSpore a cloud notebook already has keeps it.  Outside the range the import stops with one
``ImportError`` naming the version found and the range, instead of failing later on an attribute
an older MindSpore lacks (2.0 has no ``mindspore.hal``).

The check reads the installed distribution's metadata, so it costs no ``import mindspore``;
only where no metadata is found does it fall back to ``mindspore.__version__``.

>>> supported("2.7.0"), supported("2.10.1"), supported("2.6.9"), supported("2.11.0")
(True, True, False, False)
>>> SUPPORTED_RANGE
'>=2.7,<2.11'
"""
import re

#: The oldest supported release (inclusive) and the first unsupported one (exclusive), as tuples.
MINIMUM = (2, 7)
BELOW = (2, 11)
#: The same range in pip's notation, as in pyproject.toml and requirements.txt.
SUPPORTED_RANGE = f">={MINIMUM[0]}.{MINIMUM[1]},<{BELOW[0]}.{BELOW[1]}"
#: Distribution names MindSpore has been published under (2.x: one name for every device).
_DISTRIBUTIONS = ("mindspore", "mindspore-gpu", "mindspore-ascend", "mindspore-dev")


def version_tuple(version):
    """(major, minor, patch) of a version string such as '2.7.0', '2.10.0rc1' or '2.8.0.dev2025'.

    None for a string that does not start with a number.

    >>> version_tuple("2.10.0rc1"), version_tuple("2.7"), version_tuple("unknown")
    ((2, 10, 0), (2, 7, 0), None)
    """
    if not re.match(r"\s*\d", version):
        return None
    numbers = [int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3]]
    return tuple(numbers + [0] * (3 - len(numbers)))


def supported(version):
    """Whether MindSpore ``version`` (a string) lies in the supported range."""
    numbers = version_tuple(version)
    return numbers is not None and MINIMUM <= numbers[:2] < BELOW


def installed_version():
    """The installed MindSpore's version string, or None when MindSpore is not installed."""
    from importlib import metadata

    for name in _DISTRIBUTIONS:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:
        import mindspore
    except ImportError:
        return None
    return getattr(mindspore, "__version__", None)


def check_mindspore_version(version=None):
    """Raise ImportError unless MindSpore ``version`` (default: the installed one) is supported.

    Returns the version checked.  Without MindSpore installed, the ImportError says so.
    """
    if version is None:
        version = installed_version()
    if version is None:
        raise ImportError(
            f"mhsa_ms needs MindSpore {SUPPORTED_RANGE}, and MindSpore is not installed; "
            f"install it with: pip install 'mindspore{SUPPORTED_RANGE}'"
        )
    if not supported(version):
        raise ImportError(
            f"mhsa_ms supports MindSpore {SUPPORTED_RANGE} (tested on 2.7 to 2.10), "
            f"but MindSpore {version} is installed; "
            f"install a supported one with: pip install 'mindspore{SUPPORTED_RANGE}'"
        )
    return version
