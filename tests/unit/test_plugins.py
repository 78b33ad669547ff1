"""quantdesk.plugins.Registry: names -> objects or lazy "module:Attr" imports."""

from __future__ import annotations

import pytest

from quantdesk.errors import ConfigError, DependencyError
from quantdesk.plugins import Registry


def test_objects_and_lazy_imports() -> None:
    reg: Registry[object] = Registry("widget", "QUANTDESK_WIDGET")
    reg.register("Plain", 42)
    reg.register("json", "json:dumps")
    assert reg.names() == ["json", "plain"] and "PLAIN" in reg and "other" not in reg
    assert reg.get(" plain ") == 42
    import json

    assert reg.get("json") is json.dumps
    assert reg.group == "quantdesk.widgets"
    assert Registry("bus", group="quantdesk.buses").group == "quantdesk.buses"


def test_unknown_names_and_missing_packages_are_one_line() -> None:
    reg: Registry[object] = Registry("widget", "QUANTDESK_WIDGET")
    reg.register("b", 1)
    reg.register("a", 2)
    with pytest.raises(ConfigError) as err:
        reg.get("c")
    assert str(err.value) == "QUANTDESK_WIDGET: unknown widget 'c'; known: a, b"
    reg.register("far", "surely_not_installed_pkg.mod:Thing")
    with pytest.raises(DependencyError, match="pip install surely_not_installed_pkg"):
        reg.get("far")
    with pytest.raises(ValueError, match="non-empty name"):
        reg.register(" ", 3)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", 4, replace=False)
    reg.unregister("a")
    assert reg.names() == ["b", "far"]
