"""Reading the config file: YAML with YAML 1.2 booleans, duplicate keys refused."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

from config.errors import ConfigError

_BOOL_TAG = "tag:yaml.org,2002:bool"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that reads only true/false as booleans and refuses duplicate keys.

    YAML 1.1 (PyYAML's default) reads ``off``, ``on``, ``yes`` and ``no`` as booleans, which would
    turn ``reply: {footer: off}`` and ``access: {group: off}`` into ``False``. A duplicate key would
    silently drop the first value.
    """

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[object, object]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue  # unhashable; the base constructor reports it
            if duplicate:
                raise ConstructorError(None, None, f'duplicate key "{key}"', key_node.start_mark)
        return dict(super().construct_mapping(node, deep))


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_yaml_mapping(path: Path) -> dict[str, object]:
    """Read a YAML file whose top level is a mapping; an empty file is an empty mapping.

    Raises:
        ConfigError: Keyed by the path: missing or unreadable file, invalid YAML (with line and
            column), or a top level that is not a mapping.
    """
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(where, "file not found") from None
    except OSError as err:
        raise ConfigError(where, f"cannot read file: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise ConfigError(where, "file is not valid UTF-8") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # _StrictLoader is a SafeLoader
    except yaml.MarkedYAMLError as err:
        raise ConfigError(where, _describe(err)) from None
    except yaml.YAMLError as err:
        raise ConfigError(where, f"invalid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(where, f"top level must be a mapping of sections, not {_kind(data)}")
    return data


def _describe(err: yaml.MarkedYAMLError) -> str:
    mark = err.problem_mark or err.context_mark
    problem = err.problem or err.context or "syntax error"
    if mark is None:
        return f"invalid YAML: {problem}"
    return f"line {mark.line + 1}, column {mark.column + 1}: invalid YAML: {problem}"


def _kind(data: object) -> str:
    if isinstance(data, list):
        return "a list"
    if isinstance(data, str):
        return "a string"
    return f"a {type(data).__name__}"
