"""The groups of a regular expression by number, as Arrow's ``extract_regex`` needs them: by
name. :func:`regex_groups` names every unnamed capturing group of a pattern (``_g1``,
``_g2``, …, ``_g0`` the whole match) and says which name group ``n`` has.

Imports only the standard library and :mod:`sabot_lab.errors`.

>>> regex_groups(r"([a-z]+)-(\\d+)", 2)
('(?P<_g0>(?P<_g1>[a-z]+)-(?P<_g2>\\\\d+))', '_g2')
"""

from __future__ import annotations

from sabot_lab.errors import SchemaError

__all__ = ["regex_groups"]


def regex_groups(pattern: str, group: int) -> tuple[str, str]:
    """``pattern`` with its capturing groups named, and the name of group number ``group``
    (0: the whole match); a :class:`~sabot_lab.errors.SchemaError` if it has no such group.

    Escaped characters and parentheses inside ``[...]`` are not groups; ``(?:...)`` and
    flags are not counted; a group named ``(?P<name>...)`` keeps its name and its number.

    >>> regex_groups(r"\\((?:a|b)(?P<tail>[)(]c)", 1)
    ('(?P<_g0>\\\\((?:a|b)(?P<tail>[)(]c))', 'tail')
    >>> regex_groups("(a)", 2)
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: the pattern '(a)' has 1 group: there is no group 2
    """
    if isinstance(group, bool) or not isinstance(group, int) or group < 0:
        raise SchemaError(f"a regular expression's group is a number from 0, got {group!r}")
    out: list[str] = []
    names = ["_g0"]
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "]":  # a "]" first in a class is itself
                out.append("[]")
                i += 2
                continue
        elif ch == "(":
            if pattern.startswith("(?P<", i):
                end = pattern.index(">", i)
                names.append(pattern[i + 4 : end])
            elif not pattern.startswith("(?", i):
                names.append(f"_g{len(names)}")
                out.append(f"(?P<{names[-1]}>")
                i += 1
                continue
        out.append(ch)
        i += 1
    if group >= len(names):
        count = len(names) - 1
        raise SchemaError(
            f"the pattern {pattern!r} has {count} group{'' if count == 1 else 's'}: "
            f"there is no group {group}"
        )
    return f"(?P<_g0>{''.join(out)})", names[group]
